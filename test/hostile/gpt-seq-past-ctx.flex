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


plan long {
  model: Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 1)
  bind: { B: 2, T: 16 }
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX3001 at 11:33: positions run to 15, past the 8 rows of `wpe`
