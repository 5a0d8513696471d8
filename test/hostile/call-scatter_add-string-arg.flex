model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = scatter_add("x")
}
// expect: FLX3004 at 4:26: argument `base` of `scatter_add` must be a tensor, got the string "x"
