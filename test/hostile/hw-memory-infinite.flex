import { Linear } from "std/nn"

hardware H {
  gpu { memory: 1e400 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS }
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
// expect: FLX1009 at 4:17: 1e400 is too large to be a number (the largest is about 1.8e308)
