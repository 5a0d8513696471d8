import { Linear } from "std/nn"

hardware H {
  gpu { memory: 0 B, bandwidth: 100 GB/s, fp32: 10 TFLOPS }
}

model M() {
  input x: f32[4, 3]
  input t: i32[4]
  output loss = cross_entropy(Linear(x, out: 5), t)
}

plan p {
  model: M
  on: H
  
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX4005 at 4:17: `memory` must be more than 0
