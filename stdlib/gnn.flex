// std/gnn: graph neural network layers.

// Graph convolution (Kipf & Welling 2017): D^-1/2 (A+I) D^-1/2 · x · w, Glorot-initialised, no bias.
layer GcnConv(g: Graph, x: f32[n, i], out: int) -> f32[n, out] {
  param w: f32[i, out] = glorot()
  return aggregate(g, x @ w)
}

// GraphSAGE (Hamilton, Ying & Leskovec 2017) with the mean aggregator: a node's own features and the mean of its
// neighbours' (no self loop), each through its own weight. The neighbours' are projected before they are averaged
// (the same function: the mean is linear), as GcnConv projects before it aggregates.
layer SageConv(g: Graph, x: f32[n, i], out: int) -> f32[n, out] {
  param w_self: f32[i, out] = glorot()
  param w_neigh: f32[i, out] = glorot()
  return x @ w_self + mean_aggregate(g, x @ w_neigh)
}

// Graph attention (Veličković et al. 2018): per head, a score LeakyReLU(att_dst·Wx_i + att_src·Wx_j) for each edge
// j → i (self loops included), a softmax over each node's incoming edges, and each head's sum of its weights times
// Wx_j; the heads side by side ([n, heads · out]). `p`: dropout on the attention weights while training.
layer GatConv(g: Graph, x: f32[n, i], out: int, heads: int = 1, slope: float = 0.2, p: float = 0) -> f32[n, heads * out] {
  param w: f32[i, heads * out] = glorot()
  param att_src: f32[heads, out] = glorot()
  param att_dst: f32[heads, out] = glorot()
  let h = x @ w
  let hh = reshape(h, [n, heads, out])
  let s = edge_src(g, sum(hh * att_src, axis: 2)) + edge_dst(g, sum(hh * att_dst, axis: 2))
  let alpha = edge_softmax(g, relu(s) - slope * relu(-s))
  return edge_aggregate(g, h, dropout(alpha, p))
}
