model M {
  input x: f32[4]
  param w: f32[4] = gaussian(0.1)
  output y = x * w
}
// expect: FLX3004 at 3:21: a parameter initializer must be one of normal(…), uniform(…), glorot(…), zeros(…), ones(…), constant(…)
