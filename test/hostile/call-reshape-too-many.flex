model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = reshape(x, x, x)
}
// expect: FLX3004 at 4:25: argument `shape` of `reshape` must be a list of sizes such as [B, T, 4], got a tensor f32[4, 8]
