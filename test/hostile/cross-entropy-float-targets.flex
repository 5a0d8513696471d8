model M() {
  input x: f32[4, 8]
  input t: f32[4]
  output loss = cross_entropy(x, t)
}
// expect: FLX3001 at 4:17: shape mismatch in cross_entropy: cross_entropy targets must be i32 class ids, got f32; operands are f32[4,8] `x` (from line 2:9) and f32[4] `t` (from line 3:9)
