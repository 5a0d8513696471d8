model M {
  input x: f32[8, 16]
  input b: f32[8]
  output y = x + b
}
// expect: FLX3001 at 4:14: shape mismatch in add: dimension -1 differs: 16 vs 8; operands are f32[8,16] `x` (from line 2:9) and f32[8] `b` (from line 3:9)
