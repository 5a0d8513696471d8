// MPT-7B, -13B and -30B trained as MosaicML's llm-foundry benchmarked them on one node of eight H100-80GB
// (scripts/train/benchmarking/README.md, "H100 80GB BF16"): sequence 2048, bf16, FlashAttention, FSDP full sharding
// (ZeRO-3). `flexc plan examples/mpt.flex` predicts each; test/cost/published.test.ts holds them to the measured
// tokens/s per GPU (10,643, 4,792 and 2,002).
import { Mpt } from "std/llm"
import { h100_sxm, pcie5 } from "std/hardware"

// Eight H100 SXM5 with NVLink 4 through NVSwitch: 900 GB/s per GPU both ways, 450 GB/s each way.
hardware H100x8 {
  gpu x 8: h100_sxm
  host { memory: 2 TiB, bandwidth: 200 GB/s }
  link gpu <-> host: pcie5
  network { topology: nvlink, bandwidth: 450 GB/s, latency: 5 us }
}

// MPT-7B: micro-batch 6 per GPU, no gradient accumulation, no activation checkpointing (measured 10,643 tokens/s per
// GPU, MFU 46.4%).
plan mpt7b {
  model: Mpt
  on: H100x8
  bind: { B: 6, T: 2048 }
  task: train { optimizer: adamw(lr: 1.2e-4) }
  precision: bf16
  parallel: { data: 8, zero: 3 }
}

// MPT-13B: micro-batch 2, no checkpointing (measured 4,792 tokens/s per GPU, MFU 39.8%).
plan mpt13b {
  model: Mpt(d: 5120, heads: 40, depth: 40)
  on: H100x8
  bind: { B: 2, T: 2048 }
  task: train { optimizer: adamw(lr: 1.2e-4) }
  precision: bf16
  parallel: { data: 8, zero: 3 }
}

// MPT-30B: a global batch of 504 in micro-batches of 3, so each GPU accumulates 21; every layer recomputed
// (measured 2,002 tokens/s per GPU, MFU 38.1%).
plan mpt30b {
  model: Mpt(d: 7168, heads: 64, depth: 48)
  on: H100x8
  batch: { global: 504, micro: 3 }
  bind: { T: 2048 }
  task: train { optimizer: adamw(lr: 1.2e-4) }
  precision: bf16
  parallel: { data: 8, zero: 3 }
  checkpoint: all
}
