model M(depth: 2) {
  input x: f32[B, 4]
  param w0: f32[4, 4]
  let h = x @ w0
  repeat depth as i {
    h = h + relu(h @ w0)
  }
  output loss = sum(h)
}
plan p {
  model: M
  bind: { B: 2 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: auto
}
// expect: FLX5019 at 14:13: `parallel: auto` partitions the GPUs of the plan’s hardware; it names none
