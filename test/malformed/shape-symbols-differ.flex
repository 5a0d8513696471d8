model M {
  input x: f32[B, T]
  input y: f32[T, B]
  output z = x + y
}
// expect: FLX3001 at 4:14: shape mismatch in add: dimension -2 differs: B vs T; operands are f32[B,T] `x` (from line 2:9) and f32[T,B] `y` (from line 3:9)
