// Not a test case: imported by plan-bind-too-long.flex
model Gpt(ctx: 16, d: 8) {
  input tokens: i32[B, T]
  param wpe: f32[ctx, d] = normal(0.01)
  output y = wpe[0:T]
}
