// A two-layer GCN on a generated graph: a stochastic block model with power-law degrees whose classes show in
// both the features and the structure (generated into the cache on first use; same arguments, same graph).
import { GcnConv } from "std/gnn"

graph Blocks {
  nodes: 20000
  generate: sbm(classes: 8, edges: 100000, features: 64, homophily: 0.6, power: 2.5, signal: 0.12, seed: 1)
}

model Gcn(hidden: 32, classes: 8, p: 0.5) on g: Blocks {
  let h = relu(GcnConv(g, dropout(g.features, p), out: hidden))
  let logits = GcnConv(g, dropout(h, p), out: classes)
  output logits = logits
  output loss = cross_entropy(logits[g.split.train], g.labels[g.split.train])
}

plan train {
  model: Gcn
  task: train { optimizer: adam(lr: 0.01, weight_decay: { "gcn_conv.*": 5e-4 }) }
  steps: 100
}
