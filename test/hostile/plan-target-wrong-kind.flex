model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  target: fpga
}
// expect: FLX5007 at 9:11: `target` is one of `wgsl`, `c`, `cuda`
