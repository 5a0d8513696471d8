model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = causal_mask(x, bogus: 1)
}
// expect: FLX3010 at 4:29: `causal_mask` has no argument `bogus`
