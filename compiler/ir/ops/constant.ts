import type { OpDef } from '../op.ts';
import { bytesOf } from '../op.ts';
import type { DType } from '../types.ts';
import { ints, like, num } from './util.ts';

/** `const {value, dtype}`: a scalar. `full {value, shape, dtype}`: a filled tensor. */
export const constantOps: OpDef[] = [
  {
    name: 'const',
    class: 'elementwise',
    arity: 0,
    attrs: { value: { kind: 'number' }, dtype: { kind: 'string', optional: true } },
    infer: (_i, a) => ({ dtype: (a['dtype'] as DType) ?? 'f32', shape: [] }),
    noGrad: 'a constant has no operands',
    cost: (v) => ({ flops: 0, bytes: bytesOf(v.type) }),
    ref: (_i, v, ctx) => {
      const out = like(ctx, v.type);
      out[0] = num(v.attrs, 'value');
      return { data: out, shape: [] };
    },
  },
  {
    name: 'full',
    class: 'elementwise',
    arity: 0,
    attrs: { value: { kind: 'number' }, shape: { kind: 'ints' }, dtype: { kind: 'string', optional: true } },
    infer: (_i, a) => ({ dtype: (a['dtype'] as DType) ?? 'f32', shape: ints(a, 'shape') }),
    noGrad: 'a constant has no operands',
    cost: (v) => ({ flops: 0, bytes: bytesOf(v.type) }),
    ref: (_i, v, ctx) => {
      const out = like(ctx, v.type);
      out.fill(num(v.attrs, 'value'));
      return { data: out, shape: ints(v.attrs, 'shape') };
    },
  },
];
