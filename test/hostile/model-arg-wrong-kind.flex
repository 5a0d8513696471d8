model M(d: 4) {
  input x: f32[d]
  output y = x
}

plan p {
  model: M(d: "four")
  task: infer
}
// expect: FLX5007 at 7:15: model argument `d` must be a number or a boolean
