model M() {
  input x: f32[4, 8]
  input z: f32[3, 5]
  input i: i32[4]
  param w: f32[K, 4] = zeros()
  output y = x @ w
}

plan p {
  model: M
  task: infer
}
// expect: FLX5003 at 5:16: size `K` is not bound
