model M() {
  input x: f32[64, 64]
  param w: f32[64, 64] = normal(std: 0.1)
  input y: i32[64]
  let h = relu(x @ w)
  let h2 = relu(h @ w)
  output loss = cross_entropy(h2, y)
}

plan p {
  model: M
  task: train { optimizer: sgd(lr: 0.1) }
  memory: { host: 1 KiB }
  placement: host
}
// expect: FLX4011 at 13:13: `placement: host` keeps 98560 bytes (96.25 KiB) in host memory, more than `memory.host` (1 KiB)
