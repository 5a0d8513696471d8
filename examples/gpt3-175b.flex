// GPT-3 175B (Brown et al. 2020): d 12288, 96 layers, 96 heads, context 2048, the GPT-2 block.
import { Gpt } from "./gpt"
import { a100_80g, a800_80g, pcie4 } from "std/hardware"

// Eight A800-80G SXM in one node: NVLink at 400 GB/s both ways (200 GB/s each way per GPU),
// PCIe 4.0 to a host with 1 TiB of memory.
hardware A800x8 {
  gpu x 8: a800_80g
  host { memory: 1 TiB, bandwidth: 100 GB/s }
  link gpu <-> host: pcie4
  network { topology: nvlink, bandwidth: 200 GB/s, latency: 5 us }
}

// One A800-80G with the same host.
hardware A800 {
  gpu: a800_80g
  host { memory: 1 TiB, bandwidth: 100 GB/s }
  link gpu <-> host: pcie4
}

// 128 DGX A100 nodes as on Selene (Narayanan et al. 2021): eight A100-80G per node joined by NVSwitch (300 GB/s
// each way per GPU), eight 200 Gb/s InfiniBand adapters per node (25 GB/s per GPU) between nodes.
hardware Selene1024 {
  gpu x 1024: a100_80g
  node { gpus: 8, topology: nvswitch, bandwidth: 300 GB/s, latency: 5 us }
  network { topology: infiniband, bandwidth: 25 GB/s, latency: 10 us }
}

// Pre-training at context 2048, micro-batch 1 per GPU, bf16 with fp32 master weights and Adam
// state: 175 B parameters need 2.8 TB of model states, so only ZeRO-3 with offload comes close.

plan pretrain_zero3 {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: A800x8
  bind: { B: 1, T: 2048 }
  task: train { optimizer: adamw(lr: 6e-5, weight_decay: 0.1) }
  precision: bf16
  parallel: { data: 8, zero: 3 }
  checkpoint: all
}

plan pretrain_zero3_offload {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: A800x8
  bind: { B: 1, T: 2048 }
  task: train { optimizer: adamw(lr: 6e-5, weight_decay: 0.1) }
  precision: bf16
  parallel: { data: 8, zero: 3, offload: [optimizer, params] }
  checkpoint: all
}

plan pretrain_zero2 {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: A800x8
  bind: { B: 1, T: 2048 }
  task: train { optimizer: adamw(lr: 6e-5, weight_decay: 0.1) }
  precision: bf16
  parallel: { data: 8, zero: 2 }
  checkpoint: all
}

// LoRA fine-tuning (Hu et al. 2021): the base model frozen in bf16; rank-8 adapters on the query and
// value projections are the only trained weights (fp32 master copies and Adam state for them alone).
// 350 GB of bf16 weights: sharded over the eight GPUs with ZeRO-3; the fused QKV projection is the target.
plan finetune_lora {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: A800x8
  bind: { B: 1, T: 2048 }
  task: finetune { lora: { rank: 8, alpha: 16, targets: [wqkv] }, optimizer: adamw(lr: 2e-4) }
  precision: bf16
  parallel: { data: 8, zero: 3 }
  checkpoint: all
}

// Serving on one GPU: batches of 8 prompts of 512 tokens, 128 tokens generated per prompt, fp16
// weights and KV cache.
// 350 GB of weights do not fit 80 GB: they stay in host memory and stream over PCIe (FlexGen-style).
plan serve {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: A800
  bind: { B: 8 }
  task: infer { prefill: 512, decode: 128 }
  precision: fp16
  parallel: { offload: [params] }
}

// The partition searched for: tensor × pipeline × data over 1,024 GPUs, sequence splitting, ZeRO, the micro-batch,
// checkpointing and the pipeline's schedule, for GPT-3's batch of 1,536 sequences (Brown et al. 2020, Table 2.1).
plan pretrain_auto {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: Selene1024
  bind: { T: 2048 }
  batch: { global: 1536 }
  task: train { optimizer: adamw(lr: 6e-5, weight_decay: 0.1) }
  precision: bf16
  fuse: [elementwise]
  parallel: auto
}
