// A two-layer MLP classifier.
import { Linear } from "std/nn"

model Mlp(features: 784, hidden: 128, classes: 10) {
  input x: f32[B, features]
  input y: i32[B]
  let 
// expect: FLX1002 at 7:6: unexpected end of file; expected a name (in let stmt)
