model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = dropout(x, x, x)
}
// expect: FLX3004 at 4:25: argument `p` of `dropout` must be a number, got a tensor f32[4, 8]
