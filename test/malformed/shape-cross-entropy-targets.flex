model M {
  input logits: f32[8, 10]
  input t: i32[4]
  output loss = cross_entropy(logits, t)
}
// expect: FLX3001 at 4:17: shape mismatch in cross_entropy: logits [8,10] need targets of shape [8], got [4]; operands are f32[8,10] `logits` (from line 2:9) and i32[4] `t` (from line 3:9)
