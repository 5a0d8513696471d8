layer Proj(x: f32[n, 16]) -> f32[n, 4] {
  param w: f32[16, 4] = normal(0.02)
  return x @ w
}
model M {
  input x: f32[8, 12]
  output y = Proj(x)
}
// expect: FLX3002 at 7:19: argument `x` of `Proj` must be f32[n, 16] but is f32[8,12] (from line 6:9): size `16` is 16 here but 12 in the value
