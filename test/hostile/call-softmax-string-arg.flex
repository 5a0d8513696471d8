model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = softmax("x")
}
// expect: FLX3004 at 4:22: argument `x` of `softmax` must be a tensor, got the string "x"
