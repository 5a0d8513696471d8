import { Linear } from "std/nn"

gpu nothing {}

hardware H {
  gpu: nothing
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
// expect: FLX4005 at 3:5: a gpu needs `memory`, `bandwidth` and one of `fp64`, `fp32`, `tf32`, `fp16`, `bf16`, `fp8`, `int8`
