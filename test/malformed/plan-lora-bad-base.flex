model M {
  input x: f32[2, 4]
  param w: f32[4, 4]
  output loss = sum(x @ w)
}
plan p {
  model: M
  task: finetune { lora: { rank: 2, targets: [w], base: int4 } }
}
// expect: FLX5007 at 8:57: the frozen base is stored as `nf4` (QLoRA’s 4-bit NormalFloat) or, without `base`, in the plan’s precision
