model M() {
  input x: f32[4, 3]
  param w: f32[3, 3] = uniform(5, 1)
  output y = x @ w
}
// expect: FLX3004 at 3:24: `uniform(low, high)` needs low below high, got 5 and 1
