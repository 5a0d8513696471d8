// Lite-GPUs (Canakci et al., "Lite-GPUs for AI infrastructure", HotOS 2025, arXiv 2501.10187): clusters of small
// single-die GPUs joined by co-packaged optics against H100 servers of the same total compute, serving and training
// Llama-3 70B and GPT-3 175B. `flexc plan --compare examples/lite-gpu.flex` prints the table.
//
// The figures chosen:
// - H100 SXM (std/hardware h100_sxm, NVIDIA's data sheet): 989 TFLOPS bf16 dense, 80 GB of HBM3 at 3.35 TB/s. Eight
//   per server on NVSwitch, NVLink 4 at 900 GB/s both ways per GPU (450 GB/s each way); between servers one 400 Gb/s
//   InfiniBand NDR adapter per GPU (50 GB/s).
// - Lite-GPU (std/hardware lite_gpu): a quarter of an H100 on one die, as the paper sizes it — 247 TFLOPS bf16,
//   20 GB at 840 GB/s. Same total compute: 32 dies for 8 H100s, 256 for 64.
// - Co-packaged optics: every die on one flat optical network, no server boundary. The H100's bandwidth-to-compute
//   ratio inside a server is 450 GB/s per 989 TFLOPS; a quarter of the compute at that ratio is 112.5 GB/s per die
//   ("1x"), and the paper's case for optics is that twice that is within reach ("2x": 225 GB/s). Latency 1 us (a
//   switch hop; NVSwitch's is of that order).
import { h100_sxm, lite_gpu } from "std/hardware"
import { Llama2 } from "std/llm"
import { Gpt } from "./gpt"

hardware H100x8 {
  gpu x 8: h100_sxm
  node { gpus: 8, topology: nvswitch, bandwidth: 450 GB/s, latency: 1 us }
}

hardware H100x64 {
  gpu x 64: h100_sxm
  node { gpus: 8, topology: nvswitch, bandwidth: 450 GB/s, latency: 1 us }
  network { topology: infiniband, bandwidth: 50 GB/s, latency: 5 us }
}

hardware Lite32x1 {
  gpu x 32: lite_gpu
  network { topology: optical, bandwidth: 112.5 GB/s, latency: 1 us }
}

hardware Lite32x2 {
  gpu x 32: lite_gpu
  network { topology: optical, bandwidth: 225 GB/s, latency: 1 us }
}

hardware Lite256x1 {
  gpu x 256: lite_gpu
  network { topology: optical, bandwidth: 112.5 GB/s, latency: 1 us }
}

hardware Lite256x2 {
  gpu x 256: lite_gpu
  network { topology: optical, bandwidth: 225 GB/s, latency: 1 us }
}

// Serving Llama-3 70B (Meta's model card: 80 layers of 8192, 64 heads, 8 key/value heads, MLP 28672, vocabulary
// 128256): 16 requests at a time, prompts of 1024 tokens, 256 generated, bf16 weights and KV cache. On H100s one
// replica over 8 GPUs serves all 16; a Lite-GPU replica needs 8 dies for the weights (17.6 GB of each 20), so 32 dies
// hold four replicas, each serving 4 of the 16 (a prompt's activations take the rest of a die).
plan serve_llama70b_h100 {
  model: Llama2(vocab: 128256, d: 8192, heads: 64, kv_heads: 8, hidden: 28672, depth: 80)
  on: H100x8
  bind: { B: 16 }
  task: infer { prefill: 1024, decode: 256 }
  precision: bf16
  parallel: { tensor: 8 }
}

plan serve_llama70b_lite_1x {
  model: Llama2(vocab: 128256, d: 8192, heads: 64, kv_heads: 8, hidden: 28672, depth: 80)
  on: Lite32x1
  bind: { B: 4 }
  task: infer { prefill: 1024, decode: 256 }
  precision: bf16
  parallel: { tensor: 8, data: 4 }
}

plan serve_llama70b_lite_2x {
  model: Llama2(vocab: 128256, d: 8192, heads: 64, kv_heads: 8, hidden: 28672, depth: 80)
  on: Lite32x2
  bind: { B: 4 }
  task: infer { prefill: 1024, decode: 256 }
  precision: bf16
  parallel: { tensor: 8, data: 4 }
}

// Serving GPT-3 175B: 350 GB of bf16 weights, one replica over all 8 H100s or all 32 dies (96 heads, 3 a die).
plan serve_gpt3_h100 {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: H100x8
  bind: { B: 16 }
  task: infer { prefill: 1024, decode: 256 }
  precision: bf16
  parallel: { tensor: 8 }
}

plan serve_gpt3_lite_1x {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: Lite32x1
  bind: { B: 16 }
  task: infer { prefill: 1024, decode: 256 }
  precision: bf16
  parallel: { tensor: 32 }
}

plan serve_gpt3_lite_2x {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: Lite32x2
  bind: { B: 16 }
  task: infer { prefill: 1024, decode: 256 }
  precision: bf16
  parallel: { tensor: 32 }
}

// Training GPT-3 175B on batches of 512 sequences of 2048: the partition searched for on each cluster.
plan train_gpt3_h100 {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: H100x64
  bind: { T: 2048 }
  batch: { global: 512 }
  task: train { optimizer: adamw(lr: 6e-5, weight_decay: 0.1) }
  precision: bf16
  fuse: [elementwise]
  parallel: auto
}

plan train_gpt3_lite_1x {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: Lite256x1
  bind: { T: 2048 }
  batch: { global: 512 }
  task: train { optimizer: adamw(lr: 6e-5, weight_decay: 0.1) }
  precision: bf16
  fuse: [elementwise]
  parallel: auto
}

plan train_gpt3_lite_2x {
  model: Gpt(vocab: 50257, ctx: 2048, d: 12288, heads: 96, depth: 96)
  on: Lite256x2
  bind: { T: 2048 }
  batch: { global: 512 }
  task: train { optimizer: adamw(lr: 6e-5, weight_decay: 0.1) }
  precision: bf16
  fuse: [elementwise]
  parallel: auto
}

// Training Llama-3 70B on batches of 512 sequences of 2048.
plan train_llama70b_h100 {
  model: Llama2(vocab: 128256, d: 8192, heads: 64, kv_heads: 8, hidden: 28672, depth: 80)
  on: H100x64
  bind: { T: 2048 }
  batch: { global: 512 }
  task: train { optimizer: adamw(lr: 1.5e-4, weight_decay: 0.1) }
  precision: bf16
  fuse: [elementwise]
  parallel: auto
}

plan train_llama70b_lite_1x {
  model: Llama2(vocab: 128256, d: 8192, heads: 64, kv_heads: 8, hidden: 28672, depth: 80)
  on: Lite256x1
  bind: { T: 2048 }
  batch: { global: 512 }
  task: train { optimizer: adamw(lr: 1.5e-4, weight_decay: 0.1) }
  precision: bf16
  fuse: [elementwise]
  parallel: auto
}

plan train_llama70b_lite_2x {
  model: Llama2(vocab: 128256, d: 8192, heads: 64, kv_heads: 8, hidden: 28672, depth: 80)
  on: Lite256x2
  bind: { T: 2048 }
  batch: { global: 512 }
  task: train { optimizer: adamw(lr: 1.5e-4, weight_decay: 0.1) }
  precision: bf16
  fuse: [elementwise]
  parallel: auto
}
