model M() {
  input café: f32[4]
  output y = café
}
// expect: FLX1001 at 2:12: unexpected character `é`
