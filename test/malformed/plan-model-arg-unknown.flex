model M(d: 4) {
  input x: f32[d]
  output y = x
}
plan p {
  model: M(dd: 8)
}
// expect: FLX3010 at 6:12: model `M` has no parameter `dd`
