import type { Module } from '../ir/graph.ts';
import { printModule } from '../ir/printer.ts';
import { assertValid } from '../ir/verifier.ts';
import { autodiff } from './autodiff.ts';
import { checkpoint } from './checkpoint.ts';
import { dce } from './dce.ts';
import { fuseElementwise } from './fuse-elementwise.ts';
import { fuseMoe } from './fuse-moe.ts';
import { lora } from './lora.ts';
import { lowerAttention } from './lower-attention.ts';
import { lowerSparse } from './lower-sparse.ts';
import { partitionExpert } from './partition-expert.ts';
import { partitionPipeline } from './partition-pipeline.ts';
import { partitionSequence } from './partition-sequence.ts';
import { partitionTensor } from './partition-tensor.ts';
import { partitionVocab } from './partition-vocab.ts';
import { blockNodes } from './block-nodes.ts';
import { optimizer } from './optimizer.ts';
import type { Pass, PassContext } from './pass.ts';
import { precision } from './precision.ts';
import { fp8Matmuls } from './fp8-matmuls.ts';
import { sparseFeatures } from './sparse-features.ts';

/** The pass pipeline, in order. */
export const PIPELINE: readonly Pass[] = [
  sparseFeatures, // graph features from CSR files stay sparse (X @ W, dropout(X) @ W as spmm)
  lora, //      frozen base weights and trained low-rank adapters (finetune { lora })
  partitionTensor, // one rank's program: Megatron's column- and row-parallel layers (parallel: { tensor })
  partitionVocab, // the embedding and output layer split by classes, with their cross-entropy (parallel: { tensor })
  partitionSequence, // the tokens between those layers split over the ranks (parallel: { sequence })
  partitionPipeline, // the layers cut into stages, pp_send between them (parallel: { pipeline })
  partitionExpert, // each rank's share of the experts, tokens sent to them by all-to-all (parallel: { expert })
  precision, // bf16/fp16 tensors with fp32 master weights (precision: bf16 | fp16 | fp8)
  fp8Matmuls, // the linear layers as FP8 GEMMs, E4M3 operands and E5M2 gradients (precision: fp8)
  fuseMoe, //   each MoE layer one fused kernel (fuse: [moe]) or its decomposition
  lowerAttention, // attention fused (FlashAttention), or its composite (attention: composite)
  autodiff, //  backward graph of the loss
  optimizer, // parameter and optimizer-state updates
  fuseElementwise, // chains of elementwise ops into single kernels (fuse: [elementwise])
  lowerSparse, // each sparse product reads only the CSR it uses (A or Aᵀ)
  blockNodes, // a graph step's node-sized tensors in row blocks (blocks: P)
  checkpoint, // keep or recompute activations for the backward pass, within memory.gpu
  dce, //       drop what nothing needs
];

export interface PipelineOptions {
  /** Print the IR after this pass (or after every pass with 'all'). */
  printAfter?: string;
  onPrint?: (header: string, ir: string) => void;
  timings?: { pass: string; ms: number }[];
}

export function runPipeline(m: Module, cx: PassContext, opts: PipelineOptions = {}): Module {
  assertValid(m, 'lowering');
  for (const p of PIPELINE) {
    const t0 = performance.now();
    const input = m;
    const notes: string[] = [];
    m = p.run(m, { ...cx, note: (text) => notes.push(text) });
    opts.timings?.push({ pass: p.name, ms: performance.now() - t0 });
    if (m !== input) assertValid(m, p.name); // passes never mutate their input: the same module is still valid
    if (opts.printAfter === 'all' || opts.printAfter === p.name)
      opts.onPrint?.(
        [`// *** IR Dump After ${p.name} ***`, ...notes.map((n) => `// note: ${n}`)].join('\n'),
        printModule(m),
      );
  }
  return m;
}
