model M {
  input x: f32[4]
  param w: f32[4] = zeros()
  output loss = x * w
}
plan p {
  model: M
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX3061 at 8:3: the loss `loss` must be a float scalar, but is f32[4]
