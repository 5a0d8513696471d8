model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = gelu()
}
// expect: FLX3011 at 4:14: `gelu` needs argument `x`
