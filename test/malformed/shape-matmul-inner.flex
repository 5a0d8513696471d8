model M {
  input x: f32[8, 16]
  param w: f32[12, 4] = normal(0.02)
  output y = x @ w
}
// expect: FLX3001 at 4:14: shape mismatch in matmul: inner dimensions differ: 16 vs 12; operands are f32[8,16] `x` (from line 2:9) and f32[12,4] `w` (from line 3:9)
