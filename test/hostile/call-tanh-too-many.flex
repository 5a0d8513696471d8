model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = tanh(x, x)
}
// expect: FLX3012 at 4:22: `tanh` takes 1 argument, got more
