model M {
  input x: f32[2, 4]
  param w: f32[4, 4]
  output loss = sum(x @ w)
}
plan p {
  model: M
  task: finetune { lora: { rank: 2, targets: [wv] } }
}
// expect: FLX5011 at 8:3: LoRA target `wv` names no parameter of model `M`
