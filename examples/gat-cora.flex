// A two-layer GAT on Cora with the published recipe (Veličković et al. 2018): 8 heads of 8 hidden features, ELU,
// one output head, dropout 0.6 on the inputs of both layers and on the attention weights, Adam lr 0.005, weight
// decay 5e-4, 200 epochs (the paper stops early on validation loss; reported test accuracy 83.0 ± 0.7%).
import { GatConv } from "std/gnn"

graph Cora {
  dir: "../../shared/data/cora"
  nodes: 2708
  features: f32[nodes, 1433] from csr("feat_indptr.i32", "feat_indices.i32", normalize: row)
  edges from coo("edges.i32")
  labels: i32[nodes] from "labels.i32"
  split from "meta.json"
}

model Gat(hidden: 8, heads: 8, classes: 7, p: 0.6) on g: Cora {
  let h = elu(GatConv(g, dropout(g.features, p), out: hidden, heads: heads, p: p))
  let logits = GatConv(g, dropout(h, p), out: classes, p: p)
  output logits = logits
  output loss = cross_entropy(logits[g.split.train], g.labels[g.split.train])
}

plan train {
  model: Gat
  task: train { optimizer: adam(lr: 0.005, weight_decay: 5e-4) }
  steps: 200
}
