model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = exp(x, x)
}
// expect: FLX3012 at 4:21: `exp` takes 1 argument, got more
