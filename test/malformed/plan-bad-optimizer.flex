model M {
  input x: f32[4]
  output loss = sum(x)
}
plan p {
  model: M
  task: train { optimizer: adma(lr: 0.1) }
}
// expect: FLX5007 at 7:28: the optimizer is `sgd(…)`, `adam(…)` or `adamw(…)`
