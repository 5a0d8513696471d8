model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  steps: 0
}
// expect: FLX5007 at 9:10: `steps` must be a whole number ≥ 1
