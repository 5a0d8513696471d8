// A two-layer GraphSAGE (mean aggregator) on Cora with the GCN recipe of Kipf & Welling: hidden 16, dropout 0.5,
// Adam lr 0.01, weight decay 5e-4 on the first layer, 200 epochs.
import { SageConv } from "std/gnn"

graph Cora {
  dir: "../../shared/data/cora"
  nodes: 2708
  features: f32[nodes, 1433] from csr("feat_indptr.i32", "feat_indices.i32", normalize: row)
  edges from coo("edges.i32")
  labels: i32[nodes] from "labels.i32"
  split from "meta.json"
}

model Sage(hidden: 16, classes: 7, p: 0.5) on g: Cora {
  let h = relu(SageConv(g, dropout(g.features, p), out: hidden))
  let logits = SageConv(g, dropout(h, p), out: classes)
  output logits = logits
  output loss = cross_entropy(logits[g.split.train], g.labels[g.split.train])
}

plan train {
  model: Sage
  task: train { optimizer: adam(lr: 0.01, weight_decay: { "sage_conv.*": 5e-4 }) }
  steps: 200
}
