// A Switch Transformer-style decoder (Fedus et al. 2022): every other block's MLP is a mixture of 64 experts with top-1
// routing (gates raw, capacity factor 1.25), on 8 A100s with expert parallelism — each GPU holds 8 of every MoE
// layer's 64 experts and sends tokens to the others' experts and back by all-to-all. `flexc plan
// examples/switch-moe.flex` reports the parameters (all and active per token), memory per GPU and the step's
// all-to-all time beside `dense_experts`, the same model with every expert on every GPU.
import { LayerNorm, CausalSelfAttention, Mlp, MoE } from "std/nn"
import { a100_80g } from "std/hardware"

model Switch(vocab: 32128, ctx: 512, d: 768, heads: 12, depth: 12, experts: 64) {
  input tokens: i32[B, T]
  input targets: i32[B, T]
  param wte: f32[vocab, d] = normal(0.02)
  param wpe: f32[ctx, d] = normal(0.01)
  let x = gather(wte, tokens) + gather(wpe, positions(tokens))
  repeat depth / 2 as i {
    x = x + CausalSelfAttention(LayerNorm(x), heads: heads)
    x = x + Mlp(LayerNorm(x), hidden: 4 * d)
    x = x + CausalSelfAttention(LayerNorm(x), heads: heads)
    x = x + MoE(LayerNorm(x), experts: experts, k: 1, hidden: 4 * d, capacity_factor: 1.25, renormalize: false, balance: 0.01)
  }
  let logits = LayerNorm(x) @ transpose(wte)
  output logits = logits
  output loss = cross_entropy(logits, targets)
}

// Eight A100-80G in one node, NVLink 3 (300 GB/s each way per GPU).
hardware A100x8 {
  gpu x 8: a100_80g
  network { topology: nvlink, bandwidth: 300 GB/s, latency: 5 us }
}

// 8 sequences of 512 tokens per GPU, bf16, Adam, data-parallel over 8 GPUs with the experts split over all 8.
plan train {
  model: Switch
  on: A100x8
  bind: { B: 8, T: 512 }
  task: train { optimizer: adamw(lr: 1e-4) }
  precision: bf16
  parallel: { data: 8, expert: 8 }
  checkpoint: none
}

// The same without expert parallelism: every GPU holds all 64 experts of each MoE layer.
plan dense_experts {
  model: Switch
  on: A100x8
  bind: { B: 8, T: 512 }
  task: train { optimizer: adamw(lr: 1e-4) }
  precision: bf16
  parallel: { data: 8 }
  checkpoint: none
}

// The partition chosen by the compiler: tensor, pipeline, data and expert parallelism, ZeRO, micro-batch and
// checkpointing searched for the fastest step that fits the GPUs (`flexc plan` prints the best five).
plan train_auto {
  model: Switch
  on: A100x8
  bind: { T: 512 }
  batch: { global: 64 }
  task: train { optimizer: adamw(lr: 1e-4) }
  precision: bf16
  parallel: auto
}
