model M() {
  input x: f32[4, 8]
  input z: f32[3, 5]
  input i: i32[4]
  repeat n as k {
  }
  output y = x
}

plan p {
  model: M
  task: infer
}
// expect: FLX2010 at 5:10: unknown name `n`
