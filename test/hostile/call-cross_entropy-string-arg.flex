model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = cross_entropy("x")
}
// expect: FLX3004 at 4:28: argument `logits` of `cross_entropy` must be a tensor, got the string "x"
