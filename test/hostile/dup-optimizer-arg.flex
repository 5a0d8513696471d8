import { Linear } from "std/nn"

model M(d: 3) {
  input x: f32[4, d]
  input t: i32[4]
  output loss = cross_entropy(Linear(x, out: 5), t)
}

plan p {
  model: M
  steps: 2
  task: train { optimizer: sgd(lr: 0.1, lr: 5) }
}
// expect: FLX3013 at 12:41: argument `lr` is given twice
