import { Linearr } from "std/nn"
model M {
  input x: f32[4]
  output y = x
}
// expect: FLX2004 at 1:10: `Linearr` is not declared in "std/nn"
