// header comment
import { Linear, relu } from "std/nn"
import { rtx4090 } from "std/hardware"

/* block
   comment */
layer Foo(x: f32[..., D], hidden: int = 4) -> f32[..., D] {
  let h = relu(Linear(x, out: hidden))
  // inner comment

  return Linear(h,
    out: D) + -x * 2
}

model M(d: 64) {
  input x: f32[B, d]
  input y: i32[B]
  param w: f32[d, d] = normal(0.02)
  repeat 2 as i {
    x = Foo(x)
  }
  let z = x[:, 0:2] @ w[1:, :]
  output loss = cross_entropy(x @ w, y)
}

hardware H {
  gpu: rtx4090
  host { memory: 128 GiB, bandwidth: 50 GB/s }
  link gpu <-> host: pcie4
}

// leads the plan
plan p {
  model: M(d: 64)
  bind: { B: 8 }
  task: train { optimizer: adam(lr: 1e-3) }
  memory: { gpu: 20 GiB }  // trailing
}
