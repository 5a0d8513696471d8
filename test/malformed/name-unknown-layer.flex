import { Linear } from "std/nn"
model M {
  input x: f32[2, 4]
  output y = Linaer(x, out: 3)
}
// expect: FLX2010 at 4:14: unknown layer or function `Linaer`
