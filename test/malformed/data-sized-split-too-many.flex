graph G {
  nodes: 100
  edges: 400
  split: { train: 60, val: 30, test: 20 }
}
// expect: FLX4005 at 4:10: the split names 110 nodes of 100
