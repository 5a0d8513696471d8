layer Bad(x: f32[n, d]) -> f32[n, d] {
  param w: f32[d, 3] = normal(0.02)
  return x @ w
}
model M {
  input x: f32[8, 12]
  output y = Bad(x)
}
// expect: FLX3041 at 7:14: the result of `Bad` must be f32[n, d] but is f32[8,3] (from line 3:10): size `d` is 12 here but 3 in the value
