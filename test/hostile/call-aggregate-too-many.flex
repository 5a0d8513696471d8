model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = aggregate(x, x, x)
}
// expect: FLX3004 at 4:24: argument `g` of `aggregate` must be a graph, got a tensor f32[4, 8]
