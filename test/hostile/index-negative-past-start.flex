model M() {
  input x: f32[4, 3]
  output y = x[-5]
}

plan p {
  model: M
  task: infer
}
// expect: FLX3050 at 3:16: index -5 is out of range for dimension 0 of size 4
