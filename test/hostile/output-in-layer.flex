layer L(x: f32[n]) -> f32[n] {
  output y = x
  return x
}
// expect: FLX3020 at 2:3: `output` belongs in a model; a layer ends with `return`
