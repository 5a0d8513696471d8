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
  memory: { gpu: 8 GiB, ssd: 1 TB }
}
// expect: FLX5014 at 14:25: `memory.ssd` is a budget for an SSD, which hardware `OneGpu` does not have
