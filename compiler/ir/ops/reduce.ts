import type { Value } from '../graph.ts';
import type { OpDef } from '../op.ts';
import { bytesOf, elems } from '../op.ts';
import { normAxis, ShapeError, type Dim, type TensorType } from '../types.ts';
import type { Builder } from '../builder.ts';
import { bool, broadcastIndex, ints, like, shapeOf, size } from './util.ts';

/** Shape with reduced axes kept as 1. */
function keptShape(shape: readonly Dim[], axes: number[]): Dim[] {
  const ax = new Set(axes.map((a) => normAxis(a, shape.length)));
  return shape.map((d, i) => (ax.has(i) ? 1 : d));
}

function reducedType(x: TensorType, axes: number[], keepdims: boolean): TensorType {
  const seen = new Set<number>();
  for (const a of axes) {
    const n = normAxis(a, x.shape.length);
    if (seen.has(n)) throw new ShapeError(`axis ${a} is listed twice`);
    seen.add(n);
  }
  const kept = keptShape(x.shape, axes);
  return { dtype: x.dtype, shape: keepdims ? kept : x.shape.filter((_, i) => !seen.has(i)) };
}

/** dy reshaped so that it broadcasts against the operand. */
function keptGrad(b: Builder, v: Value, dy: Value): Value {
  const kept = keptShape(v.inputs[0]!.type.shape, ints(v.attrs, 'axes')) as number[];
  return bool(v.attrs, 'keepdims') ? dy : b.op('reshape', [dy], { shape: kept });
}

function reduceDef(name: 'sum' | 'mean' | 'max'): OpDef {
  return {
    name,
    class: 'elementwise',
    arity: 1,
    attrs: { axes: { kind: 'ints' }, keepdims: { kind: 'bool' } },
    infer: ([x], a) => reducedType(x!, ints(a, 'axes'), bool(a, 'keepdims')),
    grad: (b, v, dy) => {
      const xShape = shapeOf(v.inputs[0]!);
      const k = keptGrad(b, v, dy);
      if (name === 'max') {
        const y = bool(v.attrs, 'keepdims') ? v : b.op('reshape', [v], { shape: k.type.shape as number[] });
        return [b.op('max_grad', [v.inputs[0]!, y, k])];
      }
      const spread = b.op('broadcast_to', [k], { shape: xShape });
      if (name === 'sum') return [spread];
      return [b.op('mul', [spread, b.scalar(size(shapeOf(v)) / size(xShape), spread.type.dtype)])];
    },
    cost: (v) => ({ flops: elems(v.inputs[0]!.type), bytes: bytesOf(v.inputs[0]!.type) + bytesOf(v.type) }),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const kept = keptShape(x!.shape, ints(v.attrs, 'axes')) as number[];
      const idx = broadcastIndex(x!.shape, kept);
      const xs = x!.data;
      if (name === 'max') {
        out.fill(-Infinity);
        for (let i = 0; i < xs.length; i++) {
          const o = idx ? idx[i]! : i;
          if (xs[i]! > out[o]!) out[o] = xs[i]!;
        }
      } else {
        for (let i = 0; i < xs.length; i++) out[idx ? idx[i]! : i] += xs[i]!;
        if (name === 'mean') {
          const n = xs.length / out.length;
          for (let i = 0; i < out.length; i++) out[i] /= n;
        }
      }
      return { data: out, shape: shapeOf(v) };
    },
  };
}

export const reduceOps: OpDef[] = [
  reduceDef('sum'),
  reduceDef('mean'),
  reduceDef('max'),
  {
    name: 'max_grad',
    class: 'elementwise',
    arity: 3,
    attrs: {},
    infer: ([x]) => ({ ...x! }),
    noGrad: 'backward op (no second-order derivatives)',
    cost: (v) => ({ flops: elems(v.type), bytes: 2 * bytesOf(v.type) }),
    ref: ([x, y, dy], v, ctx) => {
      const out = like(ctx, v.type);
      const idx = broadcastIndex(x!.shape, y!.shape);
      for (let i = 0; i < out.length; i++) {
        const o = idx ? idx[i]! : i;
        out[i] = x!.data[i] === y!.data[o] ? dy!.data[o]! : 0;
      }
      return { data: out, shape: x!.shape };
    },
  },
];
