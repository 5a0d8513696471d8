// A two-layer MLP classifier.
import { Linear } from "std/nn"

model Mlp(features: 784, hidden: 128, classes: 
// expect: FLX1003 at 4:47: unexpected end of file; expected an expression (in param decl)
