import { B } from "./other"

layer A(x: f32[n]) -> f32[n] {
  return B(x)
}
// expect: FLX3042 at 4:10: layer `B` calls itself (B → A → B)
