model Inner {
  input x: f32[4]
  output y = x
}
model M {
  input x: f32[4]
  output y = Inner(x)
}
// expect: FLX3030 at 7:14: `Inner` is a model, not a layer; only layers can be called inside a model
