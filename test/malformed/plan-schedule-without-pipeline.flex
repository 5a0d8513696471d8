model M {
  input x: f32[2, 4]
  param w1: f32[4, 4]
  output loss = sum(x @ w1)
}
plan p {
  model: M
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { data: 1, schedule: 1f1b }
}
// expect: FLX5007 at 9:34: a schedule orders the micro-batches of a pipeline: it needs `pipeline` of 2 or more
