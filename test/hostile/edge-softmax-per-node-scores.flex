graph G {
  nodes: 50
  generate: sbm(classes: 2, edges: 100, features: 4, seed: 1)
}

model M() on g: G {
  let alpha = edge_softmax(g, g.features)
  output y = edge_aggregate(g, g.features, alpha)
}
// expect: FLX3002 at 7:15: `scores` must hold one value per edge ([224] or [224, heads], self loops included), got [50,4]
