#!/usr/bin/env bash
# The GPU checks of the cuda target, in one run on a machine with an NVIDIA GPU, nvcc and PyTorch (Node is not
# needed there). Here, first: `npx tsx scripts/gpu-check-prepare.ts` writes gpu-check/ (plans, CUDA sources, the CPU
# reference's numbers). There: `bash scripts/gpu-check.sh [sm_90]` compiles each host library with nvcc and runs
# scripts/gpu_check.py: every op's kernel and 3 training steps of each example against the CPU reference, GCN-Cora
# trained to its test accuracy, matmul GFLOP/s at 1024³ and 4096³ beside torch.matmul (TF32 off), the MoE layer
# fused and as ops beside a PyTorch eager MoE, and causal attention fused and composite beside torch's
# scaled_dot_product_attention (fp32 and bf16) at T 1024 and 4096.
# With the device tool: run(command: "bash scripts/gpu-check.sh", carry: ["gpu-check"], timeout_s: 420).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f gpu-check/manifest.json ]; then
  echo "gpu-check/ is missing: run \`npx tsx scripts/gpu-check-prepare.ts\` first (where Node is)" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
nvcc --version | tail -1
PYTHONUNBUFFERED=1 python3 scripts/gpu_check.py gpu-check "${1:-sm_90}"
# CUDA ranks over NCCL (issue 23), where Node and the nvidia-nccl-cu13 wheel are: one process, a world of one (the
# machine has one GPU), so each gradient's mean is an NCCL all-reduce over one rank; its losses against the CPU's.
if command -v node > /dev/null && [ -d node_modules ]; then
  cpu=$(node bin/flexc.mjs run examples/mlp.flex --plan small --backend cpu --steps 3 | grep '^loss')
  nccl=$(WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29533 \
    node bin/flexc.mjs run examples/mlp.flex --plan small --backend cuda --steps 3 | grep '^loss')
  echo "nccl world 1: cpu ${cpu}; cuda rank ${nccl}"
else
  echo "nccl world 1: skipped (no Node or node_modules here)"
fi
