// A two-layer MLP classifier.
import { Linear } from "std/nn"

model Mlp(features: 784, hidden: 128, classes: 10) {
  input x: f32[B, features]
  
// expect: FLX1002 at 5:28: unexpected end of file; expected `}` (in block)
