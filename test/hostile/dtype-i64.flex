model M() {
  input x: i64[4]
  output y = x
}
// expect: clean
