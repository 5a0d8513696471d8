import { Linear } from "std/nn"
model M {
  input x: f32[2, 4]
  output y = Linear(x)
}
// expect: FLX3011 at 4:14: layer `Linear` needs argument `out`
