model M {
  input x: f32[4]
  output y = rleu(x)
}
// expect: FLX2010 at 3:14: unknown layer or function `rleu`
