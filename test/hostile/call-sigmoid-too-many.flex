model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = sigmoid(x, x)
}
// expect: FLX3012 at 4:25: `sigmoid` takes 1 argument, got more
