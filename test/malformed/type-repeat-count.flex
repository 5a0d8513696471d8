model M {
  input x: f32[4]
  repeat 2.5 as i {
    x = relu(x)
  }
  output y = x
}
// expect: FLX3004 at 3:10: repeat needs a whole number of times, got the number 2.5
