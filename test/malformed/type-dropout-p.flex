model M {
  input x: f32[4]
  output y = dropout(x, 1.5)
}
// expect: FLX3050 at 3:14: dropout probability must be in [0, 1), got 1.5
