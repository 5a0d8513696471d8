import { a800_80g } from "std/hardware"
hardware Pair {
  gpu x 2: a800_80g
  network { topology: nvlink, bandwidth: 200 GB/s, latency: 5 us }
}
model M {
  input x: f32[2, 4]
  param w1: f32[4, 8]
  param w2: f32[8, 4]
  output loss = sum(relu(x @ w1) @ w2)
}
plan p {
  model: M
  on: Pair
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { data: 2, tensor: 2 }
}
// expect: FLX5013 at 16:3: `data: 2` × `tensor: 2` needs 4 GPUs, but hardware `Pair` has 2
