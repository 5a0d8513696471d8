model M {
  input x: f32[6, 4]
  output y = reshape(x, [5, 5])
}
// expect: FLX3001 at 3:14: shape mismatch in reshape: cannot reshape [6,4] (24 elements) to [5,5]; operands are f32[6,4] `x` (from line 2:9)
