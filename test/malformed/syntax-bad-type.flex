model M {
  input x: f32(4)
  output y = x
}
// expect: FLX1002 at 2:15: unexpected `(`; expected `[` (in tensor type)
