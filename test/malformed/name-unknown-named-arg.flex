import { Linear } from "std/nn"
model M {
  input x: f32[2, 4]
  output y = Linear(x, outt: 3)
}
// expect: FLX3010 at 4:24: layer `Linear` has no argument `outt`
