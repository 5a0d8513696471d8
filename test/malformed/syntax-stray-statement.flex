model M {
  input x: f32[4]
  12
  output y = x
}
// expect: FLX1002 at 3:3: unexpected `12`; expected `}` (in block)
