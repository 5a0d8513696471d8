model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = tanh(x, bogus: 1)
}
// expect: FLX3010 at 4:22: `tanh` has no argument `bogus`
