model M() {
  input x: f32[4, 3]
  output y = dropout(x, 1)
}

plan p {
  model: M
  task: infer
}
// expect: FLX3050 at 3:14: dropout probability must be in [0, 1), got 1
