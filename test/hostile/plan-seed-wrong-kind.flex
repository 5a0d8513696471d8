model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  seed: -1
}
// expect: FLX5007 at 9:9: `seed` must be a whole number ≥ 0
