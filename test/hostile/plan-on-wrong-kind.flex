model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  on: 5
}
// expect: FLX2010 at 9:7: expected a hardware name
