graph G {
  nodes: 50
  generate: sbm(classes: 2, edges: 100, features: 4, seed: 1)
}

model M() on g: G {
  output loss = sum(g.features)
}

plan p {
  model: M
  task: infer
  blocks: 0
}
// expect: FLX5007 at 13:11: `blocks` is how many node blocks a graph step is cut into, a whole number ≥ 1, or `auto`
