model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  precision: fp4
}
// expect: FLX5007 at 9:14: `precision` is one of `fp32`, `bf16`, `fp16`, `fp8`
