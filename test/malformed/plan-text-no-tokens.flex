model M {
  input x: f32[B, 4]
  param w: f32[4, 2] = zeros()
  output loss = sum(x @ w)
}
plan p {
  model: M
  bind: { B: 2 }
  data: text("../../../shared/data/tinyshakespeare/input.txt")
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX5010 at 9:9: text data feeds the inputs `tokens` and `targets`, i32[B, T] each; model `M` does not declare them so
