model M() {
  input x: f32[4, 3]
  output y = x * 9007199254740992
}

plan p {
  model: M
  task: infer
}
// expect: clean
