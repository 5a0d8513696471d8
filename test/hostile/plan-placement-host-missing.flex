model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

hardware OneGpu {
  gpu { memory: 24 GiB, bandwidth: 1 TB/s, fp32: 80 TFLOPS }
}

plan p {
  model: M
  on: OneGpu
  task: infer
  placement: host
}
// expect: FLX5014 at 14:3: `placement: host` places activations in host memory, which hardware `OneGpu` does not have
