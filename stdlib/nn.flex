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

// Multi-head causal self-attention (GPT-2): fused QKV projection, scaled dot products,
// a causal mask, softmax, and an output projection.
layer CausalSelfAttention(x: f32[B, T, d], heads: int) -> f32[B, T, d] {
  param wqkv: f32[d, 3 * d] = normal(0.02)
  param bqkv: f32[3 * d] = zeros()
  param wo: f32[d, d] = normal(0.02)
  param bo: f32[d] = zeros()
  let qkv = reshape(x @ wqkv + bqkv, [B, T, 3, heads, d / heads])
  let q = transpose(qkv[:, :, 0], [0, 2, 1, 3])
  let k = transpose(qkv[:, :, 1], [0, 2, 1, 3])
  let v = transpose(qkv[:, :, 2], [0, 2, 1, 3])
  let scores = causal_mask(q @ transpose(k) / sqrt(d / heads))
  let y = transpose(softmax(scores) @ v, [0, 2, 1, 3])
  return reshape(y, [B, T, d]) @ wo + bo
}
