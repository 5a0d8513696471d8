import type { OpDef } from '../op.ts';
import { elems } from '../op.ts';
import { ShapeError } from '../types.ts';
import { ints, like, num, shapeOf } from './util.ts';

/**
 * `part(x) {offset, shape}`: elements offset… of x as a tensor of `shape`, without a copy: one result of an op that
 * computes several in one kernel (a fused backward's gradients, packed). The plan binds it as a range of x's buffer,
 * which lives as long as any of its parts.
 */
const part: OpDef = {
  name: 'part',
  class: 'elementwise',
  arity: 1,
  attrs: { offset: { kind: 'int' }, shape: { kind: 'ints' } },
  infer: ([x], at) => {
    const shape = ints(at, 'shape');
    const [offset, n] = [num(at, 'offset'), shape.reduce((a, d) => a * d, 1)];
    if (x!.shape.length !== 1) throw new ShapeError(`part reads a packed vector, not [${x!.shape}]`);
    if (!Number.isInteger(offset) || offset < 0 || offset % 64 || offset + n > (x!.shape[0] as number))
      throw new ShapeError(`part: elements ${offset}…${offset + n} (from a multiple of 64) are not in [${x!.shape}]`);
    return { dtype: x!.dtype, shape };
  },
  noGrad: 'a part of a backward op',
  cost: () => ({ flops: 0, bytes: 0 }),
  ref: ([x], v, ctx) => {
    const out = like(ctx, v.type);
    const offset = num(v.attrs, 'offset');
    out.set(x!.data.subarray(offset, offset + elems(v.type)) as ArrayLike<number>);
    return { data: out, shape: shapeOf(v) };
  },
};

export const partOps: OpDef[] = [part];
