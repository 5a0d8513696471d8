model M() {
  input x: f32[4]
  output y = x
}

plan p {
  model: N
  task: infer
}
// expect: FLX5005 at 7:10: unknown model `N`
