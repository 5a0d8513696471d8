// std/nn: building blocks for MLPs and transformers.

// y = x @ w + b over the last axis.
layer Linear(x: f32[..., i], out: int) -> f32[..., out] {
  param w: f32[i, out] = normal(0.02)
  param b: f32[out] = zeros()
  return x @ w + b
}

// Layer normalisation over the last axis with a learned scale and shift.
layer LayerNorm(x: f32[..., d], eps: float = 1e-5) -> f32[..., d] {
  param gamma: f32[d] = ones()
  param beta: f32[d] = zeros()
  return layernorm(x, eps: eps) * gamma + beta
}

// The transformer feed-forward block: Linear → GELU → Linear.
layer Mlp(x: f32[..., d], hidden: int) -> f32[..., d] {
  param w1: f32[d, hidden] = normal(0.02)
  param b1: f32[hidden] = zeros()
  param w2: f32[hidden, d] = normal(0.02)
  param b2: f32[d] = zeros()
  return gelu(x @ w1 + b1) @ w2 + b2
}

// Multi-head causal self-attention (GPT-2): fused QKV projection, causal scaled dot-product attention
// (one fused kernel, FlashAttention; `attention: composite` in a plan materialises the scores), and an
// output projection. Keys and values go through `cache`, so that serving plans
// (`task: infer { prefill, decode }`) keep them in a KV cache.
layer CausalSelfAttention(x: f32[B, T, d], heads: int) -> f32[B, T, d] {
  param wqkv: f32[d, 3 * d] = normal(0.02)
  param bqkv: f32[3 * d] = zeros()
  param wo: f32[d, d] = normal(0.02)
  param bo: f32[d] = zeros()
  let qkv = reshape(x @ wqkv + bqkv, [B, T, 3, heads, d / heads])
  let q = transpose(qkv[:, :, 0], [0, 2, 1, 3])
  let k = cache(transpose(qkv[:, :, 1], [0, 2, 1, 3]), axis: 2)  // every token so far when decoding
  let v = cache(transpose(qkv[:, :, 2], [0, 2, 1, 3]), axis: 2)
  let y = transpose(attention(q, k, v), [0, 2, 1, 3])
  return reshape(y, [B, T, d]) @ wo + bo
}

// CausalSelfAttention with ALiBi (Press et al. 2022) for positions: no position embedding; head h of H biases its
// scores by −2^(−alibi·(h+1)/H) per token of distance (MPT: alibi 8); `dropout` drops the probabilities in training.
layer AlibiSelfAttention(x: f32[B, T, d], heads: int, alibi: float = 8, dropout: float = 0) -> f32[B, T, d] {
  param wqkv: f32[d, 3 * d] = normal(0.02)
  param bqkv: f32[3 * d] = zeros()
  param wo: f32[d, d] = normal(0.02)
  param bo: f32[d] = zeros()
  let qkv = reshape(x @ wqkv + bqkv, [B, T, 3, heads, d / heads])
  let q = transpose(qkv[:, :, 0], [0, 2, 1, 3])
  let k = cache(transpose(qkv[:, :, 1], [0, 2, 1, 3]), axis: 2)
  let v = cache(transpose(qkv[:, :, 2], [0, 2, 1, 3]), axis: 2)
  let y = transpose(attention(q, k, v, alibi: alibi, dropout: dropout), [0, 2, 1, 3])
  return reshape(y, [B, T, d]) @ wo + bo
}

// Root-mean-square normalisation over the last axis with a learned scale (Zhang & Sennrich 2019; Llama).
layer RMSNorm(x: f32[..., d], eps: float = 1e-5) -> f32[..., d] {
  param weight: f32[d] = ones()
  return x / sqrt(mean(x * x, axis: -1, keepdims: true) + eps) * weight
}

// The SwiGLU feed-forward block (Shazeer 2020; Llama): (silu(x·W_gate) ⊙ x·W_up)·W_down, no biases.
layer SwiGlu(x: f32[..., d], hidden: int) -> f32[..., d] {
  param w_gate: f32[d, hidden] = normal(0.02)
  param w_up: f32[d, hidden] = normal(0.02)
  param w_down: f32[hidden, d] = normal(0.02)
  return (silu(x @ w_gate) * (x @ w_up)) @ w_down
}

// Causal self-attention with rotary position embeddings and grouped-query attention (Llama 2):
// `kv_heads` key/value heads, each shared by heads / kv_heads query heads; no biases. Keys and values
// go through `cache` (a KV cache when serving), so their length is written -1.
layer GqaAttention(x: f32[B, T, d], heads: int, kv_heads: int) -> f32[B, T, d] {
  param wq: f32[d, d] = normal(0.02)
  param wk: f32[d, kv_heads * (d / heads)] = normal(0.02)
  param wv: f32[d, kv_heads * (d / heads)] = normal(0.02)
  param wo: f32[d, d] = normal(0.02)
  let q = rope(transpose(reshape(x @ wq, [B, T, heads, d / heads]), [0, 2, 1, 3]))
  let k = cache(rope(transpose(reshape(x @ wk, [B, T, kv_heads, d / heads]), [0, 2, 1, 3])), axis: 2)
  let v = cache(transpose(reshape(x @ wv, [B, T, kv_heads, d / heads]), [0, 2, 1, 3]), axis: 2)
  return reshape(transpose(attention(q, k, v), [0, 2, 1, 3]), [B, T, d]) @ wo
}

// A mixture of experts (Switch Transformer, GShard; Mixtral's top-2): a router (linear → softmax) picks k of `experts`
// GeLU MLPs per token; each expert takes at most C = ⌈k·T/experts · capacity_factor⌉ tokens (first choices before
// second ones, tokens in order; the rest are dropped and pass through as zeros), or every token when `dropless`.
// y_t = Σ over t's kept choices of gate · expert(x_t), the gates being the chosen probabilities renormalised to sum to
// 1 (`renormalize: false` keeps them raw, as Switch does with k = 1). Adds `balance` · E·Σ_e f_e·P_e (the
// load-balancing loss) to the model's `aux_loss`. A shared expert (DeepSeekMoE) is an `Mlp` beside it:
// x + MoE(x, …) + Mlp(x, …).
layer MoE(x: f32[..., d], experts: int, k: int, hidden: int, capacity_factor: 1.25, dropless: false, renormalize: true, balance: 0.01) -> f32[..., d] {
  param router: f32[d, experts] = normal(0.02)
  param w1: f32[experts, d, hidden] = normal(0.02)
  param b1: f32[experts, 1, hidden] = zeros()
  param w2: f32[experts, hidden, d] = normal(0.02)
  param b2: f32[experts, 1, d] = zeros()
  return moe(x, router, w1, b1, w2, b2, k: k, capacity_factor: capacity_factor, dropless: dropless, renormalize: renormalize, balance: balance)
}

// MoE with SwiGLU experts (Mixtral): each expert is (silu(x·W_gate) ⊙ x·W_up)·W_down, no biases.
layer SwiGluMoE(x: f32[..., d], experts: int, k: int, hidden: int, capacity_factor: 1.25, dropless: false, renormalize: true, balance: 0.01) -> f32[..., d] {
  param router: f32[d, experts] = normal(0.02)
  param w_gate: f32[experts, d, hidden] = normal(0.02)
  param w_up: f32[experts, d, hidden] = normal(0.02)
  param w_down: f32[experts, hidden, d] = normal(0.02)
  return moe_swiglu(x, router, w_gate, w_up, w_down, k: k, capacity_factor: capacity_factor, dropless: dropless, renormalize: renormalize, balance: balance)
}
