model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = gather("x")
}
// expect: FLX3004 at 4:21: argument `table` of `gather` must be a tensor, got the string "x"
