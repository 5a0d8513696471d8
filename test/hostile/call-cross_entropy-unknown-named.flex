model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = cross_entropy(x, bogus: 1)
}
// expect: FLX3010 at 4:31: `cross_entropy` has no argument `bogus`
