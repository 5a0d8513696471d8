model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = cache("x")
}
// expect: FLX3004 at 4:20: argument `x` of `cache` must be a tensor, got the string "x"
