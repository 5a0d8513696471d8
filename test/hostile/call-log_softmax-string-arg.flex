model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = log_softmax("x")
}
// expect: FLX3004 at 4:26: argument `x` of `log_softmax` must be a tensor, got the string "x"
