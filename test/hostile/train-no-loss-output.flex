model M() {
  input x: f32[4, 8]
  input t: i32[4]
  param w: f32[8, 3] = normal(0.1)
  output logits = x @ w
}

plan p {
  model: M
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX3060 at 10:3: plan `p` trains on output `loss`, which model `M` does not declare
