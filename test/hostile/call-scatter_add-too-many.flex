model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = scatter_add(x, x, x, x)
}
// expect: FLX3012 at 4:35: `scatter_add` takes 3 arguments, got more
