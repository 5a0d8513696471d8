// A graph whose data file is missing: one diagnostic, not one more per use of the graph.
graph G {
  dir: "no-such-dir"
  nodes: 3
  features: f32[nodes, 2] from dense("x.f32")
  labels: i32[nodes] from "y.i32"
}

model M on g: G {
  param w: f32[2, 2] = normal(0.1)
  let h = g.features @ w
  output loss = cross_entropy(h, g.labels)
}

plan train {
  model: M
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX6001 at 5:38: data file not found: test/malformed/no-such-dir/x.f32 (resolved against test/malformed/no-such-dir, the graph's `dir`)
// expect-count: 1
