model M {
  input x: f32[2, 4]
  param w1: f32[4, 6]
  param w2: f32[6, 4]
  output loss = sum(relu(x @ w1) @ w2)
}
plan p {
  model: M
  task: infer
  parallel: { tensor: 1.5 }
}
// expect: FLX5007 at 10:23: `tensor` is the number of GPUs each pair of linear layers is split over, a whole number ≥ 1
