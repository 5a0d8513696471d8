model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = log_softmax(x, bogus: 1)
}
// expect: FLX3010 at 4:29: `log_softmax` has no argument `bogus`
