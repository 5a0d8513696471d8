model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = cross_entropy()
}
// expect: FLX3011 at 4:14: `cross_entropy` needs argument `logits`
