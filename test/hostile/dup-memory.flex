import { Linear } from "std/nn"

model M(d: 3) {
  input x: f32[4, d]
  input t: i32[4]
  output loss = cross_entropy(Linear(x, out: 5), t)
}

plan p {
  model: M
  memory: { gpu: 1 KiB, gpu: 1 TiB }
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX2011 at 11:25: field `gpu` is given twice
