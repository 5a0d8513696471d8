graph G {
  nodes: 3
  features: f32[4, 2] from dense("x.f32")
}
// expect: FLX3002 at 3:13: features have 4 rows but the graph has 3 nodes
