import type { Value } from '../ir/graph.ts';
import type { OpClass } from '../ir/op.ts';
import { bytesOf } from '../ir/op.ts';
import { getOp } from '../ir/ops/registry.ts';
import { peakFor, type Device } from './device.ts';

export type { OpClass };

/** An op's class, as its definition declares it (a product over a heads axis is attention, any other matmul). */
export function classOf(v: Value): OpClass {
  const c = getOp(v.op).class;
  return typeof c === 'function' ? c(v) : c;
}

export interface OpTime {
  seconds: number;
  flops: number;
  bytes: number;
  /** Which roof bounds it. */
  bound: 'compute' | 'memory' | 'launch';
}

/**
 * The operands an op reads by row index, by position (a product over a graph reads a row of its dense operand per
 * entry; SDDMM both its operands' rows); a gather or scatter reads and writes nothing but rows by index.
 */
const GATHERED: Record<string, number[] | 'all'> = {
  gather: 'all',
  scatter_add: 'all',
  spmm_csr: [3],
  spmm_edge: [3],
  spmm_acc: [4],
  sddmm: [2, 3],
};

/** Bytes of an op's traffic read by row index (at a device's `gather_efficiency` of its bandwidth). */
export function gatheredBytes(v: Value, bytes: number): number {
  const g = GATHERED[v.op];
  if (!g) return 0;
  if (g === 'all') return bytes;
  return Math.min(
    bytes,
    g.reduce((a, k) => a + (v.inputs[k] ? bytesOf(v.inputs[k].type) : 0), 0),
  );
}

/**
 * Roofline time of one kernel: the slower of its FLOPs at the dtype's peak and its bytes at the bandwidth (each
 * derated), plus a launch.
 */
export function opTime(v: Value, d: Device): OpTime {
  const { flops, bytes } = getOp(v.op).cost(v);
  if (flops === 0 && bytes === 0) return { seconds: 0, flops, bytes, bound: 'launch' }; // a view: no kernel
  const compute = flops / Math.max(1, peakFor(d, v.inputs[0]?.type.dtype ?? v.type.dtype) * d.computeEfficiency);
  const gathered = gatheredBytes(v, bytes);
  const memory =
    (bytes - gathered) / Math.max(1, d.bandwidth * d.memoryEfficiency) +
    gathered / Math.max(1, d.bandwidth * d.gatherEfficiency);
  const body = Math.max(compute, memory);
  const bound = body < d.launch ? 'launch' : compute >= memory ? 'compute' : 'memory';
  return { seconds: body + d.launch, flops, bytes, bound };
}
