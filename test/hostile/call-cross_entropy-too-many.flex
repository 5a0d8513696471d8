model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = cross_entropy(x, x, x)
}
// expect: FLX3012 at 4:34: `cross_entropy` takes 2 arguments, got more
