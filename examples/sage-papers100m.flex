// Planning a graph too large to ship: ogbn-papers100M's shape (Hu et al., "Open Graph Benchmark", NeurIPS 2020:
// 111,059,956 nodes, 1,615,685,872 edges, 128 features, 172 classes; split 1,207,179 / 125,265 / 214,338) under a
// three-layer GraphSAGE (hidden 256). The graph is declared by its sizes alone, so `flexc plan` sizes every tensor,
// chooses how many node blocks to cut the step into, and places it — 844 GiB whole — on one 80 GB GPU, 1 TiB of host
// memory and an NVMe SSD; `flexc run` and `flexc build` say the graph has no data (FLX6006).
// `flexc plan examples/sage-papers100m.flex --plan streamed` prints bytes per tier and link and the step time.
import { SageConv } from "std/gnn"
import { h100_sxm, pcie5, nvme_gen5 } from "std/hardware"

graph Papers100M {
  nodes: 111059956
  features: f32[nodes, 128]
  edges: 1615685872
  labels: i32[nodes]
  split: { train: 1207179, val: 125265, test: 214338 }
}

hardware Server {
  gpu: h100_sxm
  host { memory: 1 TiB, bandwidth: 200 GB/s }
  ssd: nvme_gen5
  link gpu <-> host: pcie5
}

model Sage(hidden: 256, classes: 172, p: 0.5) on g: Papers100M {
  let h1 = relu(SageConv(g, dropout(g.features, p), out: hidden))
  let h2 = relu(SageConv(g, dropout(h1, p), out: hidden))
  let logits = SageConv(g, dropout(h2, p), out: classes)
  output loss = cross_entropy(logits[g.split.train], g.labels[g.split.train])
}

plan streamed {
  model: Sage
  on: Server
  task: train { optimizer: adam(lr: 0.003) }
  steps: 100
  blocks: auto
  placement: auto
  checkpoint: auto
  memory: { gpu: 80 GiB, host: 1 TiB, ssd: 4 TB }
}
