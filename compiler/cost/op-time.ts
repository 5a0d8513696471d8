import type { Value } from '../ir/graph.ts';
import type { OpClass } from '../ir/op.ts';
import { getOp } from '../ir/ops/registry.ts';
import { opPeak, type Device } from './device.ts';

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
 * Roofline time of one kernel: the slower of its FLOPs at the dtype's peak and its bytes at the bandwidth (each
 * derated), plus a launch.
 */
export function opTime(v: Value, d: Device): OpTime {
  const { flops, bytes, gathered = 0 } = getOp(v.op).cost(v);
  if (flops === 0 && bytes === 0) return { seconds: 0, flops, bytes, bound: 'launch' }; // a view: no kernel
  const peak = opPeak(d, v.inputs[0]?.type.dtype ?? v.type.dtype, v.op === 'matmul' && v.attrs['fp8'] === true);
  const compute = flops / Math.max(1, peak * d.computeEfficiency);
  const memory =
    (bytes - gathered) / Math.max(1, d.bandwidth * d.memoryEfficiency) +
    gathered / Math.max(1, d.bandwidth * d.gatherEfficiency);
  const body = Math.max(compute, memory);
  const bound = body < d.launch ? 'launch' : compute >= memory ? 'compute' : 'memory';
  return { seconds: body + d.launch, flops, bytes, bound };
}
