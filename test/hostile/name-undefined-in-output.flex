model M() {
  input x: f32[4, 8]
  input z: f32[3, 5]
  input i: i32[4]
  output y = w
}

plan p {
  model: M
  task: infer
}
// expect: FLX2010 at 5:14: unknown name `w`
