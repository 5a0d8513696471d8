// std/llm: large language models, sized by their arguments.
import { RMSNorm, SwiGlu, GqaAttention } from "std/nn"

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
