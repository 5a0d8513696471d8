model M() {
  input x: f32[4, 8]
  input t: i32[4]
  param w: f32[8, 3] = normal(0.1)
  output loss = t
}

plan p {
  model: M
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX3061 at 10:3: the loss `loss` must be a float scalar, but is i32[4]
