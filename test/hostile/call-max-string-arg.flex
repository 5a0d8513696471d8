model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = max("x")
}
// expect: FLX3004 at 4:18: argument `x` of `max` must be a tensor, got the string "x"
