// A two-layer MLP classifier.
import { Linear } from "std/nn"

model Mlp(features: 784, hidden: 128, classes: 10) {
  
// expect: FLX1002 at 4:53: unexpected end of file; expected `}` (in block)
