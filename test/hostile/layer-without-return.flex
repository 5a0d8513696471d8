layer L(x: f32[n]) -> f32[n] {
  let y = relu(x)
}
// expect: FLX3040 at 1:7: layer `L` has no `return`
