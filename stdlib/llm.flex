// std/llm: large language models, sized by their arguments.
import { RMSNorm, SwiGlu, SwiGluMoE, GqaAttention, LayerNorm, AlibiSelfAttention, Mlp } from "std/nn"

// Llama 2 (Touvron et al. 2023): pre-norm blocks of RMSNorm, rotary grouped-query attention and a
// SwiGLU MLP; untied input embedding and output head. Defaults are the 7B model.
model Llama2(vocab: 32000, d: 4096, heads: 32, kv_heads: 32, hidden: 11008, depth: 32) {
  input tokens: i32[B, T]
  input targets: i32[B, T]
  param embed: f32[vocab, d] = normal(0.02)
  param head: f32[d, vocab] = normal(0.02)
  let x = gather(embed, tokens)
  repeat depth as i {  // parameters inside are named layer.<i>.…
    x = x + GqaAttention(RMSNorm(x), heads: heads, kv_heads: kv_heads)
    x = x + SwiGlu(RMSNorm(x), hidden: hidden)
  }
  let logits = RMSNorm(x) @ head
  output logits = logits
  output loss = cross_entropy(logits, targets)
}

// Mixtral (Jiang et al. 2024, "Mixtral of Experts"): Llama's blocks with the SwiGLU MLP replaced by `experts` SwiGLU
// experts of which a router picks k per token. Defaults are Mixtral 8x7B: 46.7 B parameters, 12.9 B active per token.
model Mixtral(vocab: 32000, d: 4096, heads: 32, kv_heads: 8, hidden: 14336, depth: 32, experts: 8, k: 2, capacity_factor: 1.25, balance: 0.02) {
  input tokens: i32[B, T]
  input targets: i32[B, T]
  param embed: f32[vocab, d] = normal(0.02)
  param head: f32[d, vocab] = normal(0.02)
  let x = gather(embed, tokens)
  repeat depth as i {
    x = x + GqaAttention(RMSNorm(x), heads: heads, kv_heads: kv_heads)
    x = x + SwiGluMoE(RMSNorm(x), experts: experts, k: k, hidden: hidden, capacity_factor: capacity_factor, balance: balance)
  }
  let logits = RMSNorm(x) @ head
  output logits = logits
  output loss = cross_entropy(logits, targets)
}

// MPT (MosaicML 2023): GPT-2 blocks (pre-LN LayerNorm, fused-QKV causal attention and a GELU MLP of 4·d, with
// biases), ALiBi instead of position embeddings (alibi_bias_max 8), a head tied to the token embedding; vocabulary
// 50,368. Defaults are MPT-7B. llm-foundry's benchmark counts 6,658,859,008 parameters for it: these 6,650,470,400
// and 2048 · d more, learned positions its runs had (scripts/train/benchmarking/README.md; test/cost/published.test.ts).
model Mpt(vocab: 50368, d: 4096, heads: 32, depth: 32) {
  input tokens: i32[B, T]
  input targets: i32[B, T]
  param wte: f32[vocab, d] = normal(0.02)
  let x = gather(wte, tokens)
  repeat depth as i {
    x = x + AlibiSelfAttention(LayerNorm(x), heads: heads)
    x = x + Mlp(LayerNorm(x), hidden: 4 * d)
  }
  let logits = LayerNorm(x) @ transpose(wte)
  output logits = logits
  output loss = cross_entropy(logits, targets)
}
