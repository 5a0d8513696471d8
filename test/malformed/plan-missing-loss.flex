model M {
  input x: f32[4]
  param w: f32[4] = zeros()
  output out = sum(x * w)
}
plan p {
  model: M
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX3060 at 8:3: plan `p` trains on output `loss`, which model `M` does not declare
