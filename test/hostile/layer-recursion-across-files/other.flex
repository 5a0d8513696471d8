import { A } from "./main"

layer B(x: f32[n]) -> f32[n] {
  return A(x)
}
