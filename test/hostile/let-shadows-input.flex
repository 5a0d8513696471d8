model M() {
  input x: f32[4, 8]
  input z: f32[3, 5]
  input i: i32[4]
  let x = relu(x)
  output y = x
}

plan p {
  model: M
  task: infer
}
// expect: FLX2011 at 5:7: `x` is already defined in this scope
