// A graph that does not fit and trains anyway: a two-layer GCN (hidden 128) on a generated graph of 1,000,000 nodes,
// 10,000,000 undirected edges (20,000,000 entries in its adjacency, self-loops aside) and 128 dense features — a
// 2.68 GiB step — in 240 MiB of GPU memory (1/11) and 1 GiB of host memory (less than the step's activations), the
// rest on the SSD. The step runs in 8 blocks of nodes; placement streams them between the tiers. The graph is
// generated into the cache on first use (about 1 GiB of files; same arguments, same graph).
// `flexc plan examples/gcn-1m.flex --plan streamed` shows where everything went; `npm run bench:tiers-scale` trains it.
import { GcnConv } from "std/gnn"

graph Big {
  nodes: 1000000
  generate: sbm(classes: 16, edges: 10000000, features: 128, homophily: 0.6, power: 2.5, signal: 0.12, seed: 1)
}

model Gcn(hidden: 128, classes: 16, p: 0.5) on g: Big {
  let h = relu(GcnConv(g, dropout(g.features, p), out: hidden))
  let logits = GcnConv(g, dropout(h, p), out: classes)
  output logits = logits
  output loss = cross_entropy(logits[g.split.train], g.labels[g.split.train])
}

// the whole step, for its footprint (`flexc plan`; no WebGPU device here binds its 512 MB tensors)
plan whole {
  model: Gcn
  task: train { optimizer: adam(lr: 0.01) }
  steps: 20
}

plan streamed {
  model: Gcn
  task: train { optimizer: adam(lr: 0.01) }
  steps: 20
  blocks: 8
  placement: auto
  checkpoint: auto
  memory: { gpu: 240 MiB, host: 1 GiB, ssd: 16 GiB }
}
