model M() {
  input x: f32[4, 3]
  param w: f32[3, 3] = constant(1e400)
  output y = x @ w
}
// expect: FLX1009 at 3:33: 1e400 is too large to be a number (the largest is about 1.8e308)
