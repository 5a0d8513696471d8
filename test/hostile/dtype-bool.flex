model M() {
  input x: bool[4]
  output y = x
}
// expect: FLX1002 at 2:16: unexpected `[`; expected `}` (in block)
