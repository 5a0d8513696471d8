// GAT on Cora (examples/gat-cora.flex, the published recipe) in a quarter of the GPU memory its step needs whole
// (7.32 MiB): the step cut into 4 blocks of nodes — per-edge attention values by block of destination nodes, every
// sum over the graph in the whole step's order — with placement streaming blocks, the graph's arrays and the Adam
// state through host memory. Logits and loss bitwise the whole step's; weight gradients summed over blocks within 1e-5.
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

plan quarter {
  model: Gat
  task: train { optimizer: adam(lr: 0.005, weight_decay: 5e-4) }
  steps: 200
  blocks: 4
  placement: auto
  checkpoint: auto
  memory: { gpu: 1874 KiB, host: 1 GiB }
}
