// A two-layer MLP classifier.
import { Linear } from "std/nn"

model Mlp(features: 784, hidden: 128, classes: 10) {
  input x: f32[B, features]
  input y: i32[B]
  let h = relu(Linear(x, out: hidden))
  let logits = Linear(h, out: classes)
  output logits = logits
  output loss = cross_entropy(logits, y)
}

// Trains on a fixed synthetic batch (seeded), so the loss falls as the batch is learned.
plan train {
  model: Mlp
  bind: { B: 32 }
  task: train { optimizer: adam(lr: 1e-3) }
  steps: 20
}

// A small variant for gradient checks.
plan small {
  model: Mlp(features: 12, hidden: 16, classes: 5)
  bind: { B: 6 }
  task: train { optimizer: sgd(lr: 0.1) }
}

plan adamw {
  model: Mlp(features: 12, hidden: 16, classes: 5)
  bind: { B: 6 }
  task: train { optimizer: adamw(lr: 0.01, weight_decay: 0.1) }
}
