model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  parallel: 8
}
// expect: FLX5007 at 9:13: `parallel` is a block (`parallel: { data: 8, zero: 2, offload: [optimizer] }`) or `auto`
