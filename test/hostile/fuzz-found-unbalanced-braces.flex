// A GPT-2-style decoder: token and position embeddings, pre-LN blocks with causal
// multi-head attention and a GELU MLP, a head tied to the token embedding, cross-entropy.
import { LayerNorm, CausalSelfAttention, Mlp } from "std/nn"
import { rtx4090, pcie4 } from "std/hardware"

model Gpt(vocab: 50257, ctx: 1024, d: 768, heads: 12, depth: 12) {
  input tokens: i32[B, T]
  input targets: i32[B, T]
  param wte: f32[vocab, d] = normal(0.02)
  param wpe: f32[ctx, d] = normal(0.01)
  let x = gather(wte, tokens) + gather(wpe, positions(tokens))
  repeat depth as i {  // parameters inside are named layer.<i>.…
    x = x + CausalSelfAttention(LayerNorm(x), heads: heads)
    x = x + Mlp(LayerNorm(x), hidden: 4 * d)
  }
  let logits = LayerNorm(x) @ transpose(wte)
  output logits = logits
  output loss = cross_entropy(logits, targets)
}

hardware Workstation {
  gpu: rtx4090
  host { memory: 128 GiB, bandwidth: 50 GB/s }
  link gpu <-> host: pcie4
}

// Small enough for gradient checks on the CPU reference.
plan tiny {
  model: Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2)
  bind: { B: 2, T: 8 }
  task: train { optimizer: adam(lr: 1e-3) }
  fuse: [elementwise]
}

// Serving the tiny model: a prompt of 4 tokens, then 4 generated one at a time with a KV cache.
plan tiny_serve {
  model: Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
 nd: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: depth: 2)
  bind: { B: 2 }
  task: infer { prefill: 4, decode: 4 }
  task: infer { prefill: 4, decode: 4 }
}

// GPT-2 small (124M parameters) at batch 8, context 1024.
plan gpt2_small {
  model: Gpt
  on: Workstation
  bind: { B: 8, T: 1024 }
  task: train { optimizer: adamw(lr: 3e-4, weight_decay: 0.1) }
  memory: { gpu: 20 GiB }
  checkpoint: auto
  fuse: [elementwise]
  target: wgsl
}

// A character-level GPT on Tiny Shakespeare (65 characters; 90% of the text by position for
// training, the rest for validation). The unigram entropy of the text is 3.31 nats/char.
plan shakespeare {
  model: Gpt(vocab: 65, ctx: 64, d: 64, heads: 4, depth: 2)
  bind: { B: 8, T: 64 }
  data: text("../../shared/data/tinyshakespeare/input.txt", split: 0.9)
  task: train { optimizer: adam(lr: 3e-3) }
  steps: 500
}
// expect: FLX1008 at 101:9: brackets nest more than 64 deep here
