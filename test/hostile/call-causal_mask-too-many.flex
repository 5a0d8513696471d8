model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = causal_mask(x, x, x)
}
// expect: FLX3004 at 4:29: argument `fill` of `causal_mask` must be a number, got a tensor f32[4, 8]
