model M() {
  input x: f32[-1]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
}
// expect: FLX3004 at 2:16: a size must be a whole number, got the number -1
