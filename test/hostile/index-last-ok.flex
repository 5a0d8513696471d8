model M() {
  input x: f32[4, 3]
  output y = x[-4] + x[3]
}

plan p {
  model: M
  task: infer
}
// expect: clean
