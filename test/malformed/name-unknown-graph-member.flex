graph G {
  nodes: 3
}
model M on g: G {
  output y = relu(g.featurs)
}
// expect: FLX3051 at 5:21: graph `g` has no member `featurs`
