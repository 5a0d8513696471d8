import { Linear } from "std/nn"

model M() {
  input x: f32[4, 3]
  input t: i32[4]
  output loss = cross_entropy(Linear(x, out: 5), t)
}

plan p {
  model: M
  task: train { optimizer: adam(lr: 0.001, beta1: 1) }
}
// expect: FLX5007 at 11:51: `beta1` must be from 0 up to (not including) 1, got 1
