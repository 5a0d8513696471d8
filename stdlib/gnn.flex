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
