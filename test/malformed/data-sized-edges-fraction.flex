graph G {
  nodes: 100
  edges: 2.5
}
// expect: FLX4005 at 3:10: `edges` (the graph's (src, dst) entries) is a whole number ≥ 0
