// Cross-entropy over zero classes: caught by the shape rule, not at run time.
model M(classes: 0) {
  input x: f32[4, 3]
  input y: i32[4]
  param w: f32[3, classes] = normal(0.1)
  output loss = cross_entropy(x @ w, y)
}
// expect: FLX3001 at 6:17: shape mismatch in cross_entropy: cross_entropy needs at least one class; the logits have 0; operands are f32[4,0] (from line 6:31) and i32[4] `y` (from line 4:9)
