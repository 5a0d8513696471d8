model M {
  input x: f32[4]
  output y = x
}
plan p {
  model: M
  checkpoint: sometimes
}
// expect: FLX5007 at 7:15: `checkpoint` is one of `auto`, `none`, `selective`, `all`, `sqrt`
