model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = layernorm("x")
}
// expect: FLX3004 at 4:24: argument `x` of `layernorm` must be a tensor, got the string "x"
