model M {
  input x: f32[2, 4]
  param w1: f32[4, 8]
  param w2: f32[8, 4]
  output loss = sum(relu(x @ w1) @ w2)
}
plan p {
  model: M
  task: infer
  parallel: { data: 1, sequence: true }
}
// expect: FLX5007 at 10:34: sequence parallelism splits the tokens between tensor-parallel layers: it needs `tensor` of 2 or more
