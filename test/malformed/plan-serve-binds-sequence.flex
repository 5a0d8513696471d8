model M {
  input tokens: i32[B, T]
  param e: f32[5, 4]
  output y = sum(gather(e, tokens))
}
plan p {
  model: M
  bind: { B: 1, T: 8 }
  task: infer { prefill: 4, decode: 2 }
}
// expect: FLX5012 at 8:3: `T` is the sequence length, which `infer { prefill, decode }` sets
