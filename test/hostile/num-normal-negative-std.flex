model M() {
  input x: f32[4, 3]
  param w: f32[3, 3] = normal(std: -0.1)
  output y = x @ w
}
// expect: FLX3004 at 3:36: argument `std` of `normal` must be at least 0, got -0.1
