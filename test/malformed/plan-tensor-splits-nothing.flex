model M {
  input x: f32[2, 4]
  param w1: f32[4, 6]
  param w2: f32[6, 4]
  output loss = sum(relu(x @ w1) @ w2)
}
plan p {
  model: M
  task: infer
  parallel: { tensor: 4 }
}
// expect: FLX5017 at 10:15: `tensor: 4` splits nothing: the widths of its pairs (6) are not multiples of 4
