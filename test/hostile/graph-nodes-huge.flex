graph G {
  nodes: 1000000000000
  features: f32[nodes, 4] from dense("f.f32")
}
// expect: FLX4005 at 2:10: a graph holds at most 2,147,483,647 nodes
