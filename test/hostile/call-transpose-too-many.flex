model M() {
  input x: f32[4, 8]
  input i: i32[4]
  output y = transpose(x, x, x)
}
// expect: FLX3004 at 4:27: argument `perm` of `transpose` must be a list of sizes such as [B, T, 4], got a tensor f32[4, 8]
