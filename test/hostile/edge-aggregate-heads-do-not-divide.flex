graph G {
  nodes: 50
  generate: sbm(classes: 2, edges: 100, features: 6, seed: 1)
}

model M() on g: G {
  let s = edge_src(g, g.features)
  output y = edge_aggregate(g, g.features, s[:, 0:4])
}
// expect: FLX3001 at 8:14: shape mismatch in spmm_edge: spmm_edge: 6 features do not split into 4 heads; operands are i32[51] `g.adj.indptr` and i32[224] `g.adj.indices` and f32[224,4] (from line 8:44) and f32[50,6] `g.features` and i32[224] `g.adj.rows` and i32[51] `g.adjT.indptr` and i32[224] `g.adjT.indices` and i32[224] `g.adjT.perm`
