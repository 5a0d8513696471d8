model M {
  input x: f32[B, 256]
  input y: i32[B]
  param w1: f32[256, 256] = normal(0.05)
  param w2: f32[256, 256] = normal(0.05)
  param w3: f32[256, 256] = normal(0.05)
  param w4: f32[256, 8] = normal(0.05)
  let h1 = relu(x @ w1)
  let h2 = relu(h1 @ w2)
  let h3 = relu(h2 @ w3)
  output loss = cross_entropy(h3 @ w4, y)
}
plan p {
  model: M
  bind: { B: 512 }
  task: train { optimizer: sgd(lr: 0.1) }
  memory: { gpu: 4.5 MiB }
  checkpoint: none
}
// expect: FLX4010 at 17:3: the training step needs 5015808 bytes (4.783 MiB) with checkpoint: none, more than the GPU budget of 4718592 bytes (4.5 MiB)
