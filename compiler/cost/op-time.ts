import { LEAF_OPS, type Value } from '../ir/graph.ts';
import { getOp } from '../ir/ops/registry.ts';
import { OPTIMIZER_OPS } from '../ir/ops/optimizer.ts';
import { peakFor, type Device } from './device.ts';

/** Where step time goes (communication and transfers are added by the step model). */
export type OpClass = 'matmul' | 'attention' | 'elementwise' | 'optimizer';

const ATTENTION = new Set(['softmax', 'causal_mask']);

/**
 * An op's class: a matrix product against weights is `matmul`; a product of two activations
 * (scores = q·kᵀ, softmax·v), the softmax over scores and the causal mask are `attention`.
 */
export function classOf(v: Value, fromWeights: (v: Value) => boolean): OpClass {
  if (OPTIMIZER_OPS.has(v.op)) return 'optimizer';
  if (v.op === 'matmul' || v.op === 'spmm') return v.inputs.some(fromWeights) ? 'matmul' : 'attention';
  if (ATTENTION.has(v.op) && (v.type.shape.length ?? 0) >= 4) return 'attention';
  if (v.op === 'fused' && v.inputs.some((x) => x.op === 'causal_mask')) return 'attention';
  return 'elementwise';
}

/** Values computed from parameters alone (weights, their casts, transposes and gradients' transposes). */
export function weightDerived(values: readonly Value[]): (v: Value) => boolean {
  const set = new Set<Value>();
  for (const v of values) if (v.op === 'param' || v.op === 'state' || (!LEAF_OPS.has(v.op) && v.inputs.length > 0 && v.inputs.every((x) => set.has(x) || x.op === 'const'))) set.add(v);
  return (v) => set.has(v);
}

export interface OpTime {
  seconds: number;
  flops: number;
  bytes: number;
  /** Which roof bounds it. */
  bound: 'compute' | 'memory' | 'launch';
}

/** Roofline time of one kernel: the slower of its FLOPs at the dtype's peak and its bytes at the bandwidth (each derated), plus a launch. */
export function opTime(v: Value, d: Device): OpTime {
  const { flops, bytes } = getOp(v.op).cost(v);
  if (flops === 0 && bytes === 0) return { seconds: 0, flops, bytes, bound: 'launch' }; // a view: no kernel
  const compute = flops / Math.max(1, peakFor(d, v.inputs[0]?.type.dtype ?? v.type.dtype) * d.computeEfficiency);
  const memory = bytes / Math.max(1, d.bandwidth * d.memoryEfficiency);
  const body = Math.max(compute, memory);
  const bound = body < d.launch ? 'launch' : compute >= memory ? 'compute' : 'memory';
  return { seconds: body + d.launch, flops, bytes, bound };
}
