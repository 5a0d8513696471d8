model M() {
  input x: f32[4] // ‮ reversed
  output y = relu(q)
}
// expect: FLX2010 at 3:19: unknown name `q`
