model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = positions("x")
}
// expect: FLX3004 at 4:24: argument `x` of `positions` must be a tensor, got the string "x"
