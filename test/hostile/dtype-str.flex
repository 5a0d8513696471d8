model M() {
  input x: str[4]
  output y = x
}
// expect: FLX1002 at 2:15: unexpected `[`; expected `}` (in block)
