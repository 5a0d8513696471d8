model M() {
  input x: f32[4, 3]
  output y = layernorm(x, eps: -1)
}

plan p {
  model: M
  task: infer
}
// expect: FLX3004 at 3:32: argument `eps` of `layernorm` must be more than 0, got -1
