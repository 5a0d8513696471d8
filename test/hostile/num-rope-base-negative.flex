model M() {
  input x: f32[1, 2, 4, 8]
  output y = rope(x, base: -1)
}
// expect: FLX3004 at 3:28: argument `base` of `rope` must be more than 0, got -1
