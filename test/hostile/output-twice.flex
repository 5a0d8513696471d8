model M() {
  input x: f32[4, 8]
  input z: f32[3, 5]
  input i: i32[4]
  output y = x
  output y = x
}

plan p {
  model: M
  task: infer
}
// expect: FLX2011 at 6:10: output `y` is declared twice
