// std/hardware: presets with dense (not sparse) tensor-core figures from vendor data sheets.

// NVIDIA GeForce RTX 4090 (Ada AD102): 24 GB GDDR6X at 1008 GB/s; 82.6 TFLOPS fp32,
// 165 TFLOPS bf16/fp16 dense with fp32 accumulate halved on GeForce (we list the dense fp16-accumulate peak).
gpu rtx4090 {
  memory: 24 GiB
  bandwidth: 1008 GB/s
  fp32: 82.6 TFLOPS
  bf16: 165.2 TFLOPS
  fp16: 165.2 TFLOPS
  sms: 128
}

// NVIDIA A100 80GB SXM: 2039 GB/s HBM2e; 19.5 TFLOPS fp32, 312 TFLOPS bf16 dense.
gpu a100_80g {
  memory: 80 GiB
  bandwidth: 2039 GB/s
  fp32: 19.5 TFLOPS
  tf32: 156 TFLOPS
  bf16: 312 TFLOPS
  fp16: 312 TFLOPS
  sms: 108
}

// NVIDIA H100 SXM5 80GB: 3.35 TB/s HBM3; 67 TFLOPS fp32, 989 TFLOPS bf16 dense.
gpu h100_sxm {
  memory: 80 GiB
  bandwidth: 3350 GB/s
  fp32: 67 TFLOPS
  tf32: 494.7 TFLOPS
  bf16: 989.4 TFLOPS
  fp16: 989.4 TFLOPS
  fp8: 1978.9 TFLOPS
  sms: 132
}

// NVIDIA A800 80GB SXM: the A100's chip and memory for the China market, NVLink cut to 400 GB/s;
// 2039 GB/s HBM2e, 19.5 TFLOPS fp32, 312 TFLOPS bf16 dense.
gpu a800_80g {
  memory: 80 GiB
  bandwidth: 2039 GB/s
  fp32: 19.5 TFLOPS
  tf32: 156 TFLOPS
  bf16: 312 TFLOPS
  fp16: 312 TFLOPS
  sms: 108
}

// NVIDIA H200 SXM: the H100's compute with 141 GB of HBM3e at 4.8 TB/s (H200 product brief).
gpu h200 {
  memory: 141 GB
  bandwidth: 4800 GB/s
  fp32: 67 TFLOPS
  tf32: 494.7 TFLOPS
  bf16: 989.4 TFLOPS
  fp16: 989.4 TFLOPS
  fp8: 1978.9 TFLOPS
  sms: 132
}

// NVIDIA GeForce RTX 3090 (Ampere GA102 whitepaper): 24 GB GDDR6X at 936 GB/s; 35.6 TFLOPS fp32;
// 71 TFLOPS fp16/bf16 dense with fp32 accumulate (what training uses; 142 with fp16 accumulate).
gpu rtx3090 {
  memory: 24 GiB
  bandwidth: 936 GB/s
  fp32: 35.6 TFLOPS
  bf16: 71 TFLOPS
  fp16: 71 TFLOPS
  sms: 82
}

// A Lite-GPU (Microsoft Research, "Lite-GPUs for AI infrastructure", 2025): a quarter of an H100 —
// about 33 SMs, 247 TFLOPS bf16 dense, 20 GB at about 0.84 TB/s — networked by co-packaged optics.
gpu lite_gpu {
  memory: 20 GB
  bandwidth: 840 GB/s
  fp32: 16.75 TFLOPS
  bf16: 247 TFLOPS
  fp16: 247 TFLOPS
  fp8: 494.7 TFLOPS
  sms: 33
}

// PCIe 4.0 x16: 32 GB/s per direction raw, about 25 GB/s achieved.
link pcie4 {
  bandwidth: 25 GB/s
  latency: 10 us
}

// PCIe 5.0 x16: 64 GB/s per direction raw, about 50 GB/s achieved.
link pcie5 {
  bandwidth: 50 GB/s
  latency: 10 us
}

// A Gen4 NVMe SSD (e.g. Samsung 990 Pro class).
ssd nvme_gen4 {
  capacity: 2 TB
  read: 7 GB/s
  write: 6 GB/s
}

// A Gen5 NVMe SSD (e.g. Crucial T705 class: 14.5 GB/s read, 12.7 GB/s write sequential).
ssd nvme_gen5 {
  capacity: 4 TB
  read: 14.5 GB/s
  write: 12.7 GB/s
}
