layer A(x: f32[n]) -> f32[n] {
  return relu(x)
// expect: FLX1002 at 2:17: unexpected end of file; expected `}` (in block)
