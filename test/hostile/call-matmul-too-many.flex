model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = matmul(x, x, x)
}
// expect: FLX3012 at 4:27: `matmul` takes 2 arguments, got more
