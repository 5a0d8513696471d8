model M() {
  input x: f32[4, 8]
  input z: f32[3, 5]
  input i: i32[4]
  repeat 2.5 as k {
  }
  output y = x
}

plan p {
  model: M
  task: infer
}
// expect: FLX3004 at 5:10: repeat needs a whole number of times, got the number 2.5
