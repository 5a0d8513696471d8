lyer A(x: f32[n]) -> f32[n] {
  return x
}
// expect: FLX1006 at 1:1: `lyer` does not start a declaration
