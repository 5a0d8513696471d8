import { Linear } from "std/nn"

hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS }
  link gpu <-> ssd { bandwidth: 10 GB/s }
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
// expect: FLX4003 at 5:16: this hardware has no `ssd` for the link to join
