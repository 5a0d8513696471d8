// GCN-Cora (examples/gcn-cora.flex) in a sixteenth of the GPU memory its step needs whole (2.10 MiB): the step cut
// into 8 blocks of nodes (the first weight, its gradient and Adam's moments into blocks of the 1,433 features),
// placement streaming the blocks, the graph's arrays and the weights through host memory, the logits assembled
// there. The same losses and accuracies (logits and loss bitwise; weight gradients summed over blocks within 1e-5).
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

plan sixteenth {
  model: Gcn
  task: train { optimizer: adam(lr: 0.01, weight_decay: { "gcn_conv.*": 5e-4 }) }
  steps: 200
  blocks: 8
  placement: auto
  checkpoint: auto
  memory: { gpu: 134 KiB, host: 1 GiB }
}
