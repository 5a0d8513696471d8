model M() {
  input x: f32[4] // [31mred[0m
  output y = relu(q) // [2J cleared
}
// expect: FLX2010 at 3:19: unknown name `q`
