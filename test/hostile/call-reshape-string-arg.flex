model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = reshape("x")
}
// expect: FLX3004 at 4:22: argument `x` of `reshape` must be a tensor, got the string "x"
