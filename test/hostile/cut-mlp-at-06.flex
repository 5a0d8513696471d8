// A two-layer MLP classifier.
import { Linear } from "std/nn"

model Mlp(features: 
// expect: FLX1003 at 4:20: unexpected end of file; expected an expression (in param decl)
