model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

hardware Box {
  gpu { memory: 24 GiB, bandwidth: 1 TB/s, fp32: 80 TFLOPS }
  host { memory: 64 GiB }
}

plan p {
  model: M
  on: Box
  task: infer
  memory: { gpu: 80 GiB, host: 32 GiB }
}
// expect: FLX5015 at 15:13: `memory.gpu` is 80 GiB, more than the 24 GiB of each GPU in hardware `Box`
