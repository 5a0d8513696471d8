model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = mean("x")
}
// expect: FLX3004 at 4:19: argument `x` of `mean` must be a tensor, got the string "x"
