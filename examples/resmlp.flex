// A deep residual MLP (ResNet-style: 32 pre-norm residual blocks over a 1024-wide stream),
// classifying 512-feature inputs into 100 classes.
import { LayerNorm, Linear } from "std/nn"

model ResMlp(features: 512, d: 1024, depth: 32, classes: 100) {
  input x: f32[B, features]
  input y: i32[B]
  let h = Linear(x, out: d)
  repeat depth as i {
    h = h + Linear(relu(Linear(LayerNorm(h), out: 2 * d)), out: d)
  }
  let logits = Linear(LayerNorm(h), out: classes)
  output logits = logits
  output loss = cross_entropy(logits, y)
}

// Batch 4096 under a 4 GB budget: the activations are most of the step's memory, so auto checkpoints.
plan train {
  model: ResMlp
  bind: { B: 4096 }
  task: train { optimizer: adam(lr: 1e-3) }
  memory: { gpu: 4 GB }
  checkpoint: auto
}

// A small variant for tests.
plan small {
  model: ResMlp(features: 12, d: 16, depth: 4, classes: 5)
  bind: { B: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
}
