model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = rope(x, x, x)
}
// expect: FLX3004 at 4:22: argument `base` of `rope` must be a number, got a tensor f32[4, 8]
