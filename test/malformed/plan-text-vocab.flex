model M(vocab: 10) {
  input tokens: i32[B, T]
  input targets: i32[B, T]
  param emb: f32[vocab, 8] = normal(0.02)
  param out: f32[8, vocab] = normal(0.02)
  output loss = cross_entropy(gather(emb, tokens) @ out, targets)
}
plan p {
  model: M
  bind: { B: 2, T: 8 }
  data: text("../../../shared/data/tinyshakespeare/input.txt", split: 0.9)
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX6004 at 11:9: the text has 65 distinct characters, but the embedding of `tokens` has 10 rows
