model M {
  input x: f32[6, 4]
  output y = softmax(x, axis: 0)
}
// expect: FLX3050 at 3:14: softmax is computed over the last axis only, got axis 0
