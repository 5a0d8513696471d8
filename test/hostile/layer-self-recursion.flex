layer A(x: f32[n]) -> f32[n] {
  return A(x)
}
// expect: FLX3042 at 2:10: layer `A` calls itself (A → A)
