model M() {
  input x: f32[0, 4]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
}
// expect: clean
