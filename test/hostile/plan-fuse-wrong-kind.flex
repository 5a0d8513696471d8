model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  fuse: [everything]
}
// expect: FLX5007 at 9:10: fusions are `elementwise` and `moe`
