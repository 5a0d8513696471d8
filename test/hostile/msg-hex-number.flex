model M() {
  input x: f32[0x3]
  output y = x
}
// expect: FLX1009 at 2:16: flex numbers are decimal: `0x3` is not one
