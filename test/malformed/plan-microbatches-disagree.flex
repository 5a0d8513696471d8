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
  batch: { global: 8, micro: 2 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { pipeline: 2, microbatches: 2 }
}
// expect: FLX5007 at 14:42: `batch` runs 4 micro-batches a step on each data-parallel rank, not 2
