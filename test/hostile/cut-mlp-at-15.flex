// A two-layer MLP classifier.
import { Linear } from "std/nn"

model Mlp(features: 784, hidden: 128, classes: 10) {
  input x: f32[B, features]
  input y: i32[B]
  let h = relu(Linear(x, out: 
// expect: FLX1003 at 7:30: unexpected end of file; expected an expression (in unary expr)
