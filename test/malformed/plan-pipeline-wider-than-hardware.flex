import { a800_80g } from "std/hardware"
hardware Quad {
  gpu x 4: a800_80g
  network { topology: nvlink, bandwidth: 200 GB/s, latency: 5 us }
}
model M(depth: 4) {
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
  on: Quad
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { data: 2, pipeline: 4 }
}
// expect: FLX5013 at 19:3: `data: 2` × `pipeline: 4` needs 8 GPUs, but hardware `Quad` has 4
