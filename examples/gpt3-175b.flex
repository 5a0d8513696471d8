// GPT-3 175B (Brown et al. 2020): d 12288, 96 layers, 96 heads, context 2048, the GPT-2 block.
import { Gpt } from "./gpt"
import { a800_80g, pcie4 } from "std/hardware"

// Eight A800-80G SXM in one node: NVLink at 400 GB/s both ways (200 GB/s each way per GPU),
// PCIe 4.0 to a host with 1 TiB of memory.
hardware A800x8 {
  gpu x 8: a800_80g
  host { memory: 1 TiB, bandwidth: 100 GB/s }
  link gpu <-> host: pcie4
  network { topology: nvlink, bandwidth: 200 GB/s, latency: 5 us }
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
