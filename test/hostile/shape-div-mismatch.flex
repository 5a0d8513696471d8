model M() {
  input x: f32[4, 8]
  input z: f32[3, 5]
  input i: i32[4]
  output y = x / z
}

plan p {
  model: M
  task: infer
}
// expect: FLX3001 at 5:14: shape mismatch in div: dimension -2 differs: 4 vs 3; operands are f32[4,8] `x` (from line 2:9) and f32[3,5] `z` (from line 3:9)
