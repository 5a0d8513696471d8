import { a800_80g } from "std/hardware"
hardware Pair {
  gpu x 2: a800_80g
  network { topology: nvlink, bandwidth: 200 GB/s, latency: 5 us }
}
model M {
  param w: f32[4]
  output loss = sum(w * w)
}
plan p {
  model: M
  on: Pair
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { data: 8, zero: 1 }
}
// expect: FLX5013 at 14:3: `data: 8` needs 8 GPUs, but hardware `Pair` has 2
