model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = transpose("x")
}
// expect: FLX3004 at 4:24: argument `x` of `transpose` must be a tensor, got the string "x"
