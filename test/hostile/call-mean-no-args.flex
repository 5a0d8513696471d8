model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = mean()
}
// expect: FLX3011 at 4:14: `mean` needs argument `x`
