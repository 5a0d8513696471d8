model M() {
  input x: u8[4]
  output y = x
}
// expect: clean
