model M() {
  input x: f32[4]
  output y = x
}

plan p {
  model: M
  on: Nowhere
  task: infer
}
// expect: FLX2010 at 8:7: unknown hardware `Nowhere`
