model M {
  input x: f32[B, 4]
  output y = x
}
plan p {
  model: M
}
// expect: FLX5003 at 2:16: size `B` is not bound
