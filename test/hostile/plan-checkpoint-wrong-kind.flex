model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  checkpoint: sometimes
}
// expect: FLX5007 at 9:15: `checkpoint` is one of `auto`, `none`, `selective`, `all`, `sqrt`
