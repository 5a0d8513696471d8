model M(depth: 2) {
  input x: f32[2, 4]
  param w0: f32[4, 4]
  let h = x @ w0
  repeat depth as i {
    h = h + relu(h @ w0)
  }
  output loss = sum(h)
}
plan p {
  model: M
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { pipeline: 2, schedule: interleaved(2) }
}
// expect: FLX5018 at 13:15: 4 pipeline stages need a layer each, but the model has 2 layers
