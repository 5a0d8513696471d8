model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = scatter_add(x, bogus: 1)
}
// expect: FLX3010 at 4:29: `scatter_add` has no argument `bogus`
