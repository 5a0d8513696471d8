layer A(x: f32[n]) -> f32[n] {
  return x
}
layer A(x: f32[n]) -> f32[n] {
  return x
}
// expect: FLX2005 at 4:7: `A` is declared twice
