import type { OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { broadcastShapes, ShapeError, sameDim } from '../types.ts';
import { broadcastIndex, ints, like, shapeOf } from './util.ts';

/** `broadcast_to {shape}` expands size-1 and missing leading dims; `sum_to {shape}` is its adjoint. */
export const broadcastOps: OpDef[] = [
  {
    name: 'broadcast_to',
    class: 'elementwise',
    arity: 1,
    attrs: { shape: { kind: 'ints' } },
    infer: ([x], a) => {
      const shape = ints(a, 'shape');
      const b = broadcastShapes(x!.shape, shape);
      if (b.length !== shape.length || !b.every((d, i) => sameDim(d, shape[i]!)))
        throw new ShapeError(`cannot broadcast [${x!.shape}] to [${shape}]`);
      return { dtype: x!.dtype, shape };
    },
    grad: (b, v, dy) => [b.op('sum_to', [dy], { shape: shapeOf(v.inputs[0]!) })],
    cost: (v) => streamingCost(v, 0),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const idx = broadcastIndex(shapeOf(v), x!.shape);
      for (let i = 0; i < out.length; i++) out[i] = x!.data[idx ? idx[i]! : i]!;
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    name: 'sum_to',
    class: 'elementwise',
    arity: 1,
    attrs: { shape: { kind: 'ints' } },
    infer: ([x], a) => {
      const shape = ints(a, 'shape');
      const b = broadcastShapes(x!.shape, shape);
      if (b.length !== x!.shape.length || !b.every((d, i) => sameDim(d, x!.shape[i]!)))
        throw new ShapeError(`cannot sum [${x!.shape}] down to [${shape}]`);
      return { dtype: x!.dtype, shape };
    },
    grad: (b, v, dy) => [b.op('broadcast_to', [dy], { shape: shapeOf(v.inputs[0]!) })],
    cost: (v) => streamingCost(v, 1),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const idx = broadcastIndex(x!.shape, shapeOf(v));
      for (let i = 0; i < x!.data.length; i++) out[idx ? idx[i]! : i] += x!.data[i]!;
      return { data: out, shape: shapeOf(v) };
    },
  },
];
