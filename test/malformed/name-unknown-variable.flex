model M {
  input x: f32[4]
  output y = relu(xx)
}
// expect: FLX2010 at 3:19: unknown name `xx`
