import type { Value } from '../../ir/graph.ts';
import { elementwiseEmitters } from './elementwise.ts';
import { assemble, type DeviceClass, type Emitter, type Kernel } from './kernel.ts';
import { matmulEmitters } from './matmul.ts';
import { reduceEmitters } from './reduce.ts';
import { rowEmitters } from './rows.ts';
import { sparseEmitters } from './sparse.ts';

export type { DeviceClass, Kernel } from './kernel.ts';
export { DEVICE_CLASSES } from './kernel.ts';

/** The WGSL kernel of every op, by op name: exactly one per op. */
export const WGSL_EMITTERS: Readonly<Record<string, Emitter>> = {
  ...elementwiseEmitters,
  ...reduceEmitters,
  ...rowEmitters,
  ...matmulEmitters,
  ...sparseEmitters,
};

export class MissingKernelError extends Error {}

/** The kernel of one value for a class of device (see DeviceClass). */
export function wgslKernel(v: Value, cls: DeviceClass): Kernel {
  const emit = WGSL_EMITTERS[v.op];
  if (!emit) throw new MissingKernelError(`internal: no WGSL kernel for op ${v.op}`);
  return assemble(v, emit(v, cls));
}
