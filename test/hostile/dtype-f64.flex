model M() {
  input x: f64[4]
  output y = x
}
// expect: clean
