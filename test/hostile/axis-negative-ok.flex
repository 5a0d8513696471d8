model M() {
  input x: f32[4, 3]
  output y = sum(x, axis: -1)
}

plan p {
  model: M
  task: infer
}
// expect: clean
