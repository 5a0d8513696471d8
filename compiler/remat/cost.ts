import type { Value } from '../ir/graph.ts';
import { getOp } from '../ir/ops/registry.ts';

/**
 * FLOPs a GPU does in the time it moves one byte of memory: H100 SXM's fp32 (non-tensor)
 * 67 TFLOP/s over its 3.35 TB/s of HBM3.
 */
export const REFERENCE_BALANCE = 20;

/**
 * What running an op again costs, in FLOP-equivalents: a roofline estimate, so memory-bound ops
 * (gathers, copies, elementwise ops) are not free to recompute.
 */
export function recomputeCost(v: Value): number {
  const c = getOp(v.op).cost(v);
  return Math.max(c.flops, REFERENCE_BALANCE * c.bytes);
}
