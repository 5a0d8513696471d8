model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = softmax(x, x, x)
}
// expect: FLX3004 at 4:25: argument `axis` of `softmax` must be a whole number, got a tensor f32[4, 8]
