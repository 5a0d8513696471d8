model M() {
  input x: f32[4, 3]
  output y = x * 1e400
}

plan p {
  model: M
  task: infer
}
// expect: FLX1009 at 3:18: 1e400 is too large to be a number (the largest is about 1.8e308)
