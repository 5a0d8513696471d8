model M {
  input x: f32[4]
  y = relu(x)
  output z = x
}
// expect: FLX2012 at 3:3: `y` is not defined
