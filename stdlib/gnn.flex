// std/gnn: graph neural network layers.

// Graph convolution (Kipf & Welling 2017): D^-1/2 (A+I) D^-1/2 · x · w, Glorot-initialised, no bias.
layer GcnConv(g: Graph, x: f32[n, i], out: int) -> f32[n, out] {
  param w: f32[i, out] = glorot()
  return aggregate(g, x @ w)
}
