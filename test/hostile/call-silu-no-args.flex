model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = silu()
}
// expect: FLX3011 at 4:14: `silu` needs argument `x`
