model M() {
  input x: f32[4]
  input x: f32[4]
  output y = x
}
// expect: FLX2011 at 3:9: `x` is already defined in this scope
