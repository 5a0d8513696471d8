model M() {
  input 😀: f32[4]
}
// expect: FLX1001 at 2:9: unexpected character `😀`
