model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = concat(x, x, x)
}
// expect: FLX3004 at 4:21: argument `xs` of `concat` must be a list of tensors, got a tensor f32[4, 8]
