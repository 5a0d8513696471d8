model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = layernorm(x, x, x)
}
// expect: FLX3004 at 4:27: argument `eps` of `layernorm` must be a number, got a tensor f32[4, 8]
