model M {
  input x: f32[B, 64]
  input y: i32[B]
  param w1: f32[64, 64] = normal(0.1)
  param w2: f32[64, 8] = normal(0.1)
  let h = relu(x @ w1)
  output loss = cross_entropy(h @ w2, y)
}
plan p {
  model: M
  bind: { B: 16 }
  task: train { optimizer: sgd(lr: 0.1) }
  memory: { gpu: 4 KiB }
  checkpoint: auto
}
// expect: FLX4010 at 13:3: the training step needs 59904 bytes (58.5 KiB) with checkpoint: auto, more than the GPU budget of 4096 bytes (4 KiB); the smallest budget that works is 59904 bytes (58.5 KiB)
