// Small models for tensor parallelism's equivalence tests: each plan `<model>` on one device and `<model>_tp2` on two
// tensor-parallel ranks. The transformers train by SGD: the gradient of a key bias is 0 but for rounding (softmax
// ignores a shift of a row's scores), and Adam's first step turns such noise into whole steps of ±lr; the classifier
// by AdamW (its moments split with its weights).
import { LayerNorm, CausalSelfAttention, Mlp, MoE, SwiGluMoE } from "std/nn"
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

// A residual MLP: `depth` blocks, each a pair of linear layers (split by tensor parallelism), stages cut between them.
model DeepMlp(features: 12, width: 16, classes: 5, depth: 2) {
  input x: f32[B, features]
  input y: i32[B]
  param w_in: f32[features, width] = normal(0.3)
  param w_out: f32[width, classes] = normal(0.3)
  let h = x @ w_in
  repeat depth as i {
    h = h + Mlp(h, hidden: 2 * width)
  }
  output loss = cross_entropy(h @ w_out, y)
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

// Pipelines: each checked against the one-device plan on the whole batch (gpt_b4, mlp_b4).
plan gpt_pp2 {
  model: Gpt
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { pipeline: 2 }
}

// Tensor 2 × pipeline 2 × data 2: eight ranks, each replica running two micro-batches of one sequence a step.
plan gpt_3d {
  model: Gpt
  bind: { T: 8 }
  batch: { global: 4, micro: 1 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2, pipeline: 2, data: 2, schedule: 1 f1b }
}

plan gpt_3d_sp {
  model: Gpt
  bind: { T: 8 }
  batch: { global: 4, micro: 1 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2, sequence: true, pipeline: 2, data: 2 }
}

// Interleaved: four layers in four model chunks, two on each of two pipeline ranks; four micro-batches of one.
plan gpt4 {
  model: Gpt(depth: 4)
  bind: { B: 4, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
}

plan gpt4_interleaved {
  model: Gpt(depth: 4)
  bind: { B: 1, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { pipeline: 2, microbatches: 4, schedule: interleaved(2) }
}

plan mlp_b4 {
  model: DeepMlp
  bind: { B: 4 }
  task: train { optimizer: adamw(lr: 1e-2, weight_decay: 0.1) }
}

plan mlp_3d {
  model: DeepMlp
  batch: { global: 4, micro: 1 }
  task: train { optimizer: adamw(lr: 1e-2, weight_decay: 0.1) }
  parallel: { tensor: 2, pipeline: 2, data: 2 }
}

hardware Octo {
  gpu x 8: a800_80g
  node { gpus: 4, topology: nvswitch, bandwidth: 200 GB/s, latency: 3 us }
  network { topology: infiniband, bandwidth: 25 GB/s, latency: 5 us }
}

plan gpt_3d_octo {
  model: Gpt(depth: 4)
  on: Octo
  bind: { T: 8 }
  batch: { global: 16, micro: 1 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2, pipeline: 2, data: 2 }
}

plan gpt_tp2_pp2 {
  model: Gpt
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2, pipeline: 2 }
}

// A GPT whose feed-forward blocks are mixtures of four experts (top-2). Dropless and without a balance loss, its
// replicas compute what one device does on the whole batch; with a capacity and a balance loss each replica routes
// its own tokens, so expert parallelism is checked against data parallelism alone (moe_dp4).
model GptMoe(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2, experts: 4, dropless: true, balance: 0.0, cf: 1.0) {
  input tokens: i32[B, T]
  input targets: i32[B, T]
  param wte: f32[vocab, d] = normal(0.3)
  param wpe: f32[ctx, d] = normal(0.1)
  let x = gather(wte, tokens) + gather(wpe, positions(tokens))
  repeat depth as i {
    x = x + CausalSelfAttention(LayerNorm(x), heads: heads)
    x = x + MoE(LayerNorm(x), experts: experts, k: 2, hidden: 2 * d, capacity_factor: cf, dropless: dropless, balance: balance)
  }
  output loss = cross_entropy(LayerNorm(x) @ transpose(wte), targets)
}

// A token classifier with a SwiGLU mixture of eight experts (Mixtral's), trained by AdamW.
model MoeClassifier(d: 8, classes: 5, experts: 8) {
  input x: f32[B, d]
  input y: i32[B]
  param w_out: f32[d, classes] = normal(0.3)
  let h = x + SwiGluMoE(x, experts: experts, k: 2, hidden: 16, dropless: true, balance: 0.0)
  output loss = cross_entropy(h @ w_out, y)
}

plan moe_b4 {
  model: GptMoe
  bind: { B: 4, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
}

// Tensor 2 × pipeline 2 × data 2, each MoE layer's experts split over the two replicas (eight ranks).
plan moe_3d {
  model: GptMoe
  bind: { T: 8 }
  batch: { global: 4, micro: 1 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2, pipeline: 2, data: 2, expert: 2 }
}

plan moe_cls {
  model: MoeClassifier
  bind: { B: 16 }
  task: train { optimizer: adamw(lr: 1e-2, weight_decay: 0.1) }
}

// Four replicas, the experts split over groups of two (two expert groups) or over all four.
plan moe_cls_ep2 {
  model: MoeClassifier
  bind: { B: 4 }
  task: train { optimizer: adamw(lr: 1e-2, weight_decay: 0.1) }
  parallel: { data: 4, expert: 2 }
}

plan moe_cls_ep4 {
  model: MoeClassifier
  bind: { B: 4 }
  task: train { optimizer: adamw(lr: 1e-2, weight_decay: 0.1) }
  parallel: { data: 4, expert: 4 }
}

// With a capacity that drops tokens and a balance loss: expert parallelism against data parallelism alone.
plan moe_dp4 {
  model: GptMoe(dropless: false, balance: 0.1, cf: 0.75)
  bind: { B: 1, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { data: 4 }
}

plan moe_ep4 {
  model: GptMoe(dropless: false, balance: 0.1, cf: 0.75)
  bind: { B: 1, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { data: 4, expert: 4 }
}

// A vocabulary of 12 classes, which two tensor ranks split: the embedding, the tied output layer and the loss split by
// classes (partition-vocab) beside the layers.
plan gpt12 {
  model: Gpt(vocab: 12)
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
}

plan gpt12_tp2 {
  model: Gpt(vocab: 12)
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2 }
}

plan gpt12_b4 {
  model: Gpt(vocab: 12)
  bind: { B: 4, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
}

plan gpt12_3d_sp {
  model: Gpt(vocab: 12)
  bind: { T: 8 }
  batch: { global: 4, micro: 1 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { tensor: 2, sequence: true, pipeline: 2, data: 2 }
}

// Serving over a pipeline of two: each rank holds its layers' weights and KV cache; beside it the same on one GPU.
plan gpt_serve_pp2 {
  model: Gpt
  on: Pair
  bind: { B: 2 }
  task: infer { prefill: 4, decode: 4 }
  parallel: { pipeline: 2 }
}

plan gpt_serve_pair {
  model: Gpt
  on: Pair
  bind: { B: 2 }
  task: infer { prefill: 4, decode: 4 }
}

// A pipeline with a GPU budget: each rank's program and the micro-batches it keeps must fit it (checkpoint: auto).
plan gpt4_pp2_none {
  model: Gpt(depth: 4)
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { pipeline: 2 }
  checkpoint: none
}

plan gpt4_pp2_budget {
  model: Gpt(depth: 4)
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
  parallel: { pipeline: 2 }
  checkpoint: auto
  memory: { gpu: 70 KiB }
}

plan gpt4_b2 {
  model: Gpt(depth: 4)
  bind: { B: 2, T: 8 }
  task: train { optimizer: sgd(lr: 0.1) }
}
