layer Emb(x: f32[n]) -> f32[n] {
  return relu(x)
}
model M {
  input t: i32[8]
  output y = Emb(t)
}
// expect: FLX3003 at 6:18: argument `x` of `Emb` must be f32[n] but is i32[8] (from line 5:9): dtype i32 is not f32
