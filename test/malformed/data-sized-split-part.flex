graph G {
  nodes: 100
  edges: 400
  split: { train: 10, valid: 5 }
}
// expect: FLX4005 at 4:23: a split has no part `valid`
