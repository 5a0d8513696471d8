// A two-layer GCN on Cora with the published recipe (Kipf & Welling 2017): hidden 16,
// dropout 0.5, Adam lr 0.01, weight decay 5e-4 on the first layer, 200 epochs.
import { GcnConv } from "std/gnn"

graph Cora {
  dir: "../../shared/data/cora"
  nodes: 2708
  features: f32[nodes, 1433] from csr("feat_indptr.i32", "feat_indices.i32", normalize: row)
  edges from coo("edges.i32")
  labels: i32[nodes] from "labels.i32"
  split from "meta.json"
}

model Gcn(hidden: 16, classes: 7, p: 0.5) on g: Cora {
  let h = relu(GcnConv(g, dropout(g.features, p), out: hidden))
  let logits = GcnConv(g, dropout(h, p), out: classes)
  output logits = logits
  output loss = cross_entropy(logits[g.split.train], g.labels[g.split.train])
}

plan train {
  model: Gcn
  task: train { optimizer: adam(lr: 0.01, weight_decay: { "gcn_conv.*": 5e-4 }) }
  steps: 200
}
