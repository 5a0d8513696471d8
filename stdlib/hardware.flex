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

// PCIe 4.0 x16: 32 GB/s per direction raw, about 25 GB/s achieved.
link pcie4 {
  bandwidth: 25 GB/s
  latency: 10 us
}

// A Gen4 NVMe SSD (e.g. Samsung 990 Pro class).
ssd nvme_gen4 {
  capacity: 2 TB
  read: 7 GB/s
  write: 6 GB/s
}
