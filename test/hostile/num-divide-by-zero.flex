model M() {
  input x: f32[4, 3]
  output y = x / 0
}

plan p {
  model: M
  task: infer
}
// expect: FLX3004 at 3:18: division by zero
