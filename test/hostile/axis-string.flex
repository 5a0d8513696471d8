model M() {
  input x: f32[4, 3]
  output y = sum(x, axis: "rows")
}

plan p {
  model: M
  task: infer
}
// expect: FLX3004 at 3:14: `axis` must be a whole number from -2 to 1 for a rank-2 tensor, got a string
