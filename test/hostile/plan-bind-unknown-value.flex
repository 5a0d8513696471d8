model M() {
  input x: f32[B]
  output y = x
}

plan p {
  model: M
  bind: { B: Q }
  task: infer
}
// expect: FLX5007 at 8:14: size `B` must be a positive whole number
