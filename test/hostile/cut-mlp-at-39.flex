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
  task: train { optimizer: 
// expect: FLX1003 at 17:27: unexpected end of file; expected an expression (in unary expr)
