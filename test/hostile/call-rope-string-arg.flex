model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = rope("x")
}
// expect: FLX3004 at 4:19: argument `x` of `rope` must be a tensor, got the string "x"
