// A two-layer MLP classifier.
import { Linear } from "std/nn"

model Mlp(features: 784, hidden: 128, classes: 10) {
  input x: 
// expect: FLX1003 at 5:11: unexpected end of file; expected one of a dtype, a name (in type ref)
