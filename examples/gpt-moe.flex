// A GPT whose MLPs are mixtures of experts (Switch Transformer's layout): each block's feed-forward is 4 GeLU experts
// of hidden 2·d, 2 chosen per token — the same active parameters and FLOPs per token as gpt.flex's MLP of hidden
// 4·d, twice its expert parameters. `flexc run examples/gpt-moe.flex --plan shakespeare` trains it on Tiny
// Shakespeare beside gpt.flex's plan of the same name (same data, batch, steps and optimizer) and prints val_loss.
import { LayerNorm, CausalSelfAttention, MoE } from "std/nn"

model GptMoe(vocab: 50257, ctx: 1024, d: 768, heads: 12, depth: 12, experts: 4, k: 2) {
  input tokens: i32[B, T]
  input targets: i32[B, T]
  param wte: f32[vocab, d] = normal(0.02)
  param wpe: f32[ctx, d] = normal(0.01)
  let x = gather(wte, tokens) + gather(wpe, positions(tokens))
  repeat depth as i {
    x = x + CausalSelfAttention(LayerNorm(x), heads: heads)
    x = x + MoE(LayerNorm(x), experts: experts, k: k, hidden: 4 * d / k, capacity_factor: 1.25, balance: 0.01)
  }
  let logits = LayerNorm(x) @ transpose(wte)
  output logits = logits
  output loss = cross_entropy(logits, targets)
}

plan shakespeare {
  model: GptMoe(vocab: 65, ctx: 64, d: 64, heads: 4, depth: 2)
  bind: { B: 8, T: 64 }
  data: text("../../shared/data/tinyshakespeare/input.txt", split: 0.9)
  task: train { optimizer: adam(lr: 3e-3) }
  steps: 500
}
