model M {
  param table: f32[10, 4] = normal(0.02)
  input i: f32[3]
  output y = gather(table, i)
}
// expect: FLX3001 at 4:14: shape mismatch in gather: gather indices must be i32, got f32; operands are f32[10,4] `table` (from line 2:9) and f32[3] `i` (from line 3:9)
