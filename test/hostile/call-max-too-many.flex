model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = max(x, x, x, x)
}
// expect: FLX3004 at 4:24: argument `keepdims` of `max` must be `true` or `false`, got a tensor f32[4, 8]
