graph G {
  nodes: 100
  features: f32[nodes, 8]
  edges from coo("edges.i32")
}
// expect: FLX4005 at 4:3: graph `G` is declared by its sizes (`features` has no file), so it reads no files
