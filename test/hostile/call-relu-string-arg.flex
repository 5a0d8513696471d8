model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = relu("x")
}
// expect: FLX3004 at 4:14: expected a tensor, got the string "x"
