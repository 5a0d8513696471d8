model M(d: 4) {
  input x: f32[d]
  output y = x
}

plan p {
  model: M(e: 3)
  task: infer
}
// expect: FLX3010 at 7:12: model `M` has no parameter `e`
