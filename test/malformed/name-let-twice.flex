model M {
  input x: f32[4]
  let y = relu(x)
  let y = exp(x)
  output z = y
}
// expect: FLX2011 at 4:7: `y` is already defined in this scope
