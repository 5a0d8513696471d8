model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = sqrt(x, bogus: 1)
}
// expect: FLX3010 at 4:22: `sqrt` has no argument `bogus`
