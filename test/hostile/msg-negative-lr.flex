import { Linear } from "std/nn"

model M() {
  input x: f32[4, 3]
  input t: i32[4]
  output loss = cross_entropy(Linear(x, out: 5), t)
}

plan p {
  model: M
  task: train { optimizer: sgd(lr: -0.1) }
}
// expect: FLX5007 at 11:36: `lr` must be more than 0, got -0.1
