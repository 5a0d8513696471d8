model M() {
  input x: f32[4, 3]
  output y = sum(x, axis: [1, -1])
}

plan p {
  model: M
  task: infer
}
// expect: FLX3004 at 3:14: `axis` names an axis twice: [1, -1]
