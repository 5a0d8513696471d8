model M() {
  input x: f32[4]
  output y = x +
}
// expect: FLX1003 at 4:1: unexpected `}`; expected an expression (in unary expr)
