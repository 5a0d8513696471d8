model M() {
  input x: f32[0b101]
  output y = x
}
// expect: FLX1009 at 2:16: flex numbers are decimal: `0b101` is not one
