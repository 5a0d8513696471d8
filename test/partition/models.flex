// Small models for tensor parallelism's equivalence tests: each plan `<model>` on one device and `<model>_tp2` on two
// tensor-parallel ranks. The transformers train by SGD: the gradient of a key bias is 0 but for rounding (softmax
// ignores a shift of a row's scores), and Adam's first step turns such noise into whole steps of ±lr; the classifier
// by AdamW (its moments split with its weights).
import { LayerNorm, CausalSelfAttention, Mlp } from "std/nn"
import { Llama2 } from "std/llm"
import { a800_80g } from "std/hardware"

hardware Pair {
  gpu x 2: a800_80g
  network { topology: nvlink, bandwidth: 200 GB/s, latency: 5 us }
}

model Classifier(features: 12, hidden: 16, classes: 5) {
  input x: f32[B, features]
  input y: i32[B]
  param w1: f32[features, hidden] = normal(0.3)
  param b1: f32[hidden] = normal(0.1)
  param w2: f32[hidden, classes] = normal(0.3)
  param b2: f32[classes] = zeros()
  let logits = relu(x @ w1 + b1) @ w2 + b2
  output loss = cross_entropy(logits, y)
}

model Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2) {
  input tokens: i32[B, T]
  input targets: i32[B, T]
  param wte: f32[vocab, d] = normal(0.3)
  param wpe: f32[ctx, d] = normal(0.1)
  let x = gather(wte, tokens) + gather(wpe, positions(tokens))
  repeat depth as i {
    x = x + CausalSelfAttention(LayerNorm(x), heads: heads)
    x = x + Mlp(LayerNorm(x), hidden: 4 * d)
  }
  let logits = LayerNorm(x) @ transpose(wte)
  output logits = logits
  output loss = cross_entropy(logits, targets)
}

plan classifier {
  model: Classifier
  bind: { B: 6 }
  task: train { optimizer: adamw(lr: 1e-2, weight_decay: 0.1) }
}

plan classifier_tp2 {
  model: Classifier
  bind: { B: 6 }
  task: train { optimizer: adamw(lr: 1e-2, weight_decay: 0.1) }
  parallel: { tensor: 2 }
}

plan gpt {
  model: Gpt
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
}

plan gpt_tp2 {
  model: Gpt
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2 }
}

plan llama {
  model: Llama2(vocab: 11, d: 16, heads: 2, kv_heads: 2, hidden: 24, depth: 2)
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
}

plan llama_tp2 {
  model: Llama2(vocab: 11, d: 16, heads: 2, kv_heads: 2, hidden: 24, depth: 2)
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2 }
}

plan gpt_lora {
  model: Gpt
  bind: { B: 2, T: 8 }
  task: finetune { lora: { rank: 2, targets: [wqkv, w1, w2] } }
}

plan gpt_lora_tp2 {
  model: Gpt
  bind: { B: 2, T: 8 }
  task: finetune { lora: { rank: 2, targets: [wqkv, w1, w2] } }
  parallel: { tensor: 2 }
}

plan gpt_b4 {
  model: Gpt
  bind: { B: 4, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
}

// Two data-parallel replicas of two tensor-parallel ranks: each replica takes half of gpt_b4's batch.
plan gpt_tp2_dp2 {
  model: Gpt
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { data: 2, tensor: 2 }
}

// The cost model's view of gpt_tp2: one rank's step on one of two GPUs joined by NVLink.
plan gpt_tp2_pair {
  model: Gpt
  on: Pair
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2 }
}

plan gpt_tp2_sp {
  model: Gpt
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2, sequence: true }
}

plan llama_tp2_sp {
  model: Llama2(vocab: 11, d: 16, heads: 2, kv_heads: 2, hidden: 24, depth: 2)
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2, sequence: true }
}

plan gpt_tp2_sp_pair {
  model: Gpt
  on: Pair
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2, sequence: true }
}

// Serving: the prompt's pass and decode steps over a KV cache split by heads.
plan gpt_serve {
  model: Gpt
  bind: { B: 2 }
  task: infer { prefill: 4, decode: 4 }
}

plan gpt_serve_tp2 {
  model: Gpt
  bind: { B: 2 }
  task: infer { prefill: 4, decode: 4 }
  parallel: { tensor: 2 }
}
