import { Linear } from "std/nn"

model M(d: 3) {
  input x: f32[4, d]
  input t: i32[4]
  output loss = cross_entropy(Linear(x, out: 5), t)
}

plan p {
  model: M
  steps: 2
  task: train { optimizer: adam(lr: 0.01) }
}
// expect: clean
