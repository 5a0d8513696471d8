model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = positions()
}
// expect: FLX3011 at 4:14: `positions` needs argument `x`
