model M() {
  input a: f32[4]
  input b: f32[4]
  output y = a @ b
}
// expect: FLX3001 at 4:14: shape mismatch in matmul: matmul (left operand) needs rank ≥ 2, got rank 1; operands are f32[4] `a` (from line 2:9) and f32[4] `b` (from line 3:9)
