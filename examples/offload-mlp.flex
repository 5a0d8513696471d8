// A step that does not fit its GPU budget and trains anyway: a deep MLP whose activations are most of its memory
// (8.5 MiB without a budget) under `memory.gpu` of 6 MiB, with host memory and an SSD to spare. On this GPU, slow
// next to its host link (as a large model's compute is next to PCIe on a fast one), copies hide behind compute, so
// `placement: auto` moves activations to host memory rather than recomputing them: `flexc plan` shows where they
// went, `flexc run` runs the copies.
import { Linear } from "std/nn"

model Deep(features: 256, width: 256, classes: 10) {
  input x: f32[B, features]
  input y: i32[B]
  let h1 = relu(Linear(x, out: width))
  let h2 = relu(Linear(h1, out: width))
  let h3 = relu(Linear(h2, out: width))
  let h4 = relu(Linear(h3, out: width))
  let h5 = relu(Linear(h4, out: width))
  let h6 = relu(Linear(h5, out: width))
  let logits = Linear(h6, out: classes)
  output loss = cross_entropy(logits, y)
}

hardware Slow {
  gpu { memory: 1 GiB, bandwidth: 100 GB/s, fp32: 2 TFLOPS }
  host { memory: 8 GiB, bandwidth: 50 GB/s }
  ssd { capacity: 64 GiB, read: 3 GB/s, write: 2 GB/s }
  link gpu <-> host { bandwidth: 25 GB/s }
}

plan train {
  model: Deep
  on: Slow
  bind: { B: 512 }
  task: train { optimizer: sgd(lr: 0.1) }
  memory: { gpu: 6 MiB, host: 1 GiB, ssd: 4 GiB }
  checkpoint: auto
  placement: auto
  steps: 20
}

// The same model with no budget: the footprint the budget above cuts by 30%.
plan unconstrained {
  model: Deep
  on: Slow
  bind: { B: 512 }
  task: train { optimizer: sgd(lr: 0.1) }
  steps: 20
}
