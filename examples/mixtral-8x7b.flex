// Mixtral 8x7B (Jiang et al. 2024): 32 layers of grouped-query attention (32 heads, 8 key/value heads) and a mixture
// of 8 SwiGLU experts (hidden 14336), 2 chosen per token: 46.7 B parameters, 12.9 B of them active per token.
// `flexc plan examples/mixtral-8x7b.flex --plan pretrain` reports both, the capacity padding and the memory per GPU.
import { Mixtral } from "std/llm"
import { h100_sxm, pcie5 } from "std/hardware"

// 32 H100 SXM, 8 per node; 400 Gb/s InfiniBand per GPU between nodes (the slower path a collective crosses).
hardware H100x32 {
  gpu x 32: h100_sxm
  host { memory: 2 TiB, bandwidth: 200 GB/s }
  link gpu <-> host: pcie5
  network { topology: fat_tree, bandwidth: 50 GB/s, latency: 5 us }
}

// Pre-training at sequence length 4096, micro-batch 1 per GPU, bf16 with fp32 master weights and Adam (16 bytes per
// parameter: 747 GB of model states, which 8 GPUs of 80 GB cannot hold even sharded), ZeRO-3 over 32 GPUs with full
// recomputation; experts take 1.25× their share of the tokens (the rest are dropped).
plan pretrain {
  model: Mixtral
  on: H100x32
  bind: { B: 1, T: 4096 }
  task: train { optimizer: adamw(lr: 3e-4, weight_decay: 0.1) }
  precision: bf16
  parallel: { data: 32, zero: 3 }
  checkpoint: all
}
