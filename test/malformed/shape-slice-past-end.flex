model M {
  input x: f32[6, 4]
  output y = x[0:8]
}
// expect: FLX3001 at 3:14: shape mismatch in slice: slice end 8 is past dimension 0 of size 6; operands are f32[6,4] `x` (from line 2:9)
