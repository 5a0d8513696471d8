import type { Value } from '../../ir/graph.ts';
import * as K from '../build.ts';
import type { Kernel } from '../ir.ts';
import { type DeviceClass, flat, kernelOf, type Lowering, named } from './common.ts';
import { attentionLowerings } from './attention.ts';
import { edgeLowerings } from './edge.ts';
import { elementwiseLowerings } from './elementwise.ts';
import { matmulLowerings } from './matmul.ts';
import { moeLowerings } from './moe.ts';
import { fusedMoe } from './moe-fused.ts';
import { fusedMoeGrad } from './moe-fused-grad.ts';
import { reduceLowerings } from './reduce.ts';
import { rowLowerings } from './rows.ts';
import { sparseLowerings } from './sparse.ts';

export { DEVICE_CLASSES, type DeviceClass } from './common.ts';

/** How every op becomes a kernel, by op name: exactly one lowering per op, for every target. */
export const LOWERINGS: Readonly<Record<string, Lowering>> = {
  ...elementwiseLowerings,
  ...reduceLowerings,
  ...rowLowerings,
  ...matmulLowerings,
  ...sparseLowerings,
  ...edgeLowerings,
  ...moeLowerings,
  ...attentionLowerings,
  moe: fusedMoe,
  moe_grad: fusedMoeGrad,
};

export class MissingKernelError extends Error {}

/** The kernel of one value for a class of device. */
export function lowerValue(v: Value, cls: DeviceClass, cooperative = cls === 'gpu'): Kernel {
  const lower = LOWERINGS[v.op];
  if (!lower) throw new MissingKernelError(`internal: no kernel for op ${v.op}`);
  return kernelOf(v, lower(v, cls, cooperative));
}

/** Copies n 32-bit words between two tensors of the arena (end-of-step parameter and state updates). */
export function copyKernel(n: number): Kernel {
  const i = K.ref('i');
  const kb = flat(n, [K.store('res', i, K.load('a0', i, 'u32'))]);
  const k = named('copy', {
    doc: 'writes an updated parameter or optimizer state back over the old one',
    buffers: [
      { name: 'a0', t: 'u32' },
      { name: 'res', t: 'u32' },
    ],
    shared: [],
    workgroup: kb.workgroup,
    dispatch: kb.dispatch,
    body: kb.body,
  });
  return { ...k, name: `copy_${n}` };
}
