model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = softmax(x, bogus: 1)
}
// expect: FLX3010 at 4:25: `softmax` has no argument `bogus`
