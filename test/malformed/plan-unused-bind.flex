model M {
  input x: f32[B, 4]
  output y = x
}
plan p {
  model: M
  bind: { B: 2, Q: 3 }
}
// expect: FLX5004 at 7:17: `Q` is bound but no size of model `M` is called that
