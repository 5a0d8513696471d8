import { Linear } from "std/nn"

model M(d: 3) {
  input x: f32[4, d]
  input t: i32[4]
  output loss = cross_entropy(Linear(x, out: 5), t)
}

plan p {
  model: M
  steps: 2
  steps: 3
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX2011 at 12:3: field `steps` is given twice
