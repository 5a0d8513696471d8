model M() {
  input x: f32[4]
  output y = x
}

plan p {
  model: M
  task: infer
}

plan p {
  model: M
  task: infer
}
// expect: FLX2005 at 11:6: `p` is declared twice
