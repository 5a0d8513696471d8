model M {
  input x: f32[4]
  output y = relu(x, x)
}
// expect: FLX3012 at 3:22: `relu` takes 1 argument, got more
