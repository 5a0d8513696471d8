model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  placement: moon
}
// expect: FLX5007 at 9:14: `placement` is one of `auto`, `gpu`, `host`, `ssd`
