model M() {
  input x: f32[4, 8]
  input z: f32[3, 5]
  input i: i32[4]
  let a = relu(w)
  output y = a
}

plan p {
  model: M
  task: infer
}
// expect: FLX2010 at 5:16: unknown name `w`
