// A two-layer MLP classifier.
import { Linear } from "std/nn"

model Mlp(features: 784, hidden: 128, classes: 10) {
  input x: f32[B, features]
  input y: 
// expect: FLX1003 at 6:11: unexpected end of file; expected one of a dtype, a name (in type ref)
