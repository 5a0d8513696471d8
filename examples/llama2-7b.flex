// Llama 2 7B (6.74 B parameters): d 4096, 32 layers, 32 heads, SwiGLU 11008.
import { Llama2 } from "std/llm"
import { a800_80g, pcie4 } from "std/hardware"

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

// Pre-training at sequence length 4096, micro-batch 1 per GPU, bf16 with fp32 master weights and
// Adam state (16 bytes per parameter), data-parallel over the eight GPUs.

// ZeRO-2 (optimizer state and gradients sharded) with full activation recomputation.
plan pretrain_zero2 {
  model: Llama2(vocab: 32000, d: 4096, heads: 32, kv_heads: 32, hidden: 11008, depth: 32)
  on: A800x8
  bind: { B: 1, T: 4096 }
  task: train { optimizer: adamw(lr: 3e-4, weight_decay: 0.1) }
  precision: bf16
  parallel: { data: 8, zero: 2 }
  checkpoint: all
}

// ZeRO-2 under a budget of 40 GiB per GPU: `auto` recomputes only what the budget needs, measured
// on one rank (its shards, not the whole model).
plan pretrain_zero2_auto {
  model: Llama2(vocab: 32000, d: 4096, heads: 32, kv_heads: 32, hidden: 11008, depth: 32)
  on: A800x8
  bind: { B: 1, T: 4096 }
  task: train { optimizer: adamw(lr: 3e-4, weight_decay: 0.1) }
  precision: bf16
  parallel: { data: 8, zero: 2 }
  memory: { gpu: 40 GiB }
  checkpoint: auto
}

// ZeRO-3 (parameters sharded too) with full recomputation.
plan pretrain_zero3 {
  model: Llama2(vocab: 32000, d: 4096, heads: 32, kv_heads: 32, hidden: 11008, depth: 32)
  on: A800x8
  bind: { B: 1, T: 4096 }
  task: train { optimizer: adamw(lr: 3e-4, weight_decay: 0.1) }
  precision: bf16
  parallel: { data: 8, zero: 3 }
  checkpoint: all
}

// ZeRO-3 keeping every activation: the report says whether it fits.
plan pretrain_zero3_keep {
  model: Llama2(vocab: 32000, d: 4096, heads: 32, kv_heads: 32, hidden: 11008, depth: 32)
  on: A800x8
  bind: { B: 1, T: 4096 }
  task: train { optimizer: adamw(lr: 3e-4, weight_decay: 0.1) }
  precision: bf16
  parallel: { data: 8, zero: 3 }
  checkpoint: none
}

// ZeRO-3 with optimizer state and master weights offloaded to host memory (ZeRO-Offload).
plan pretrain_zero3_offload {
  model: Llama2(vocab: 32000, d: 4096, heads: 32, kv_heads: 32, hidden: 11008, depth: 32)
  on: A800x8
  bind: { B: 1, T: 4096 }
  task: train { optimizer: adamw(lr: 3e-4, weight_decay: 0.1) }
  precision: bf16
  parallel: { data: 8, zero: 3, offload: [optimizer] }
  checkpoint: all
}

// LoRA fine-tuning (Hu et al. 2021): the base model frozen in bf16; rank-8 adapters on the query and
// value projections are the only trained weights (fp32 master copies and Adam state for them alone).
plan finetune_lora {
  model: Llama2(vocab: 32000, d: 4096, heads: 32, kv_heads: 32, hidden: 11008, depth: 32)
  on: A800
  bind: { B: 4, T: 2048 }
  task: finetune { lora: { rank: 8, alpha: 16, targets: [wq, wv] }, optimizer: adamw(lr: 2e-4) }
  precision: bf16
  checkpoint: all
}

// QLoRA (Dettmers et al. 2023): the same fine-tuning with the frozen base's linear weights stored in 4-bit
// NormalFloat (blocks of 64 with an fp32 maximum each: 0.5625 bytes per weight instead of bf16's 2).
plan finetune_qlora {
  model: Llama2(vocab: 32000, d: 4096, heads: 32, kv_heads: 32, hidden: 11008, depth: 32)
  on: A800
  bind: { B: 4, T: 2048 }
  task: finetune { lora: { rank: 8, alpha: 16, targets: [wq, wv], base: nf4 }, optimizer: adamw(lr: 2e-4) }
  precision: bf16
  checkpoint: all
}

// Serving on one GPU: batches of 8 prompts of 512 tokens, 128 tokens generated per prompt, fp16
// weights and KV cache.
plan serve {
  model: Llama2(vocab: 32000, d: 4096, heads: 32, kv_heads: 32, hidden: 11008, depth: 32)
  on: A800
  bind: { B: 8 }
  task: infer { prefill: 512, decode: 128 }
  precision: fp16
}
