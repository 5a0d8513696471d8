import type { OpDef } from '../op.ts';
import { bytesOf, IndexOutOfRange, streamingCost } from '../op.ts';
import { sameDim, ShapeError } from '../types.ts';
import { like, requireRank, shapeOf, size } from './util.ts';

/** An index read from data must select one of `n` (rows, unless said): else IndexOutOfRange naming the op. */
export function checkIndex(i: number, n: number, op: string, what = 'rows'): void {
  if (!(i >= 0 && i < n)) throw new IndexOutOfRange(`${op}: index ${i} is out of range for ${n} ${what}`);
}

/**
 * `gather(table, idx)`: rows of `table` picked by integer `idx` (embeddings, node subsets). `scatter_add` is its
 * adjoint.
 */
export const gatherOps: OpDef[] = [
  {
    name: 'gather',
    class: 'elementwise',
    arity: 2,
    attrs: {},
    infer: ([t, i]) => {
      requireRank(t!, 1, 'gather (table)');
      if (i!.dtype !== 'i32') throw new ShapeError(`gather indices must be i32, got ${i!.dtype}`);
      return { dtype: t!.dtype, shape: [...i!.shape, ...t!.shape.slice(1)] };
    },
    grad: (b, v, dy) => {
      const [t, i] = v.inputs;
      return [
        b.op('scatter_add', [b.op('full', [], { value: 0, shape: shapeOf(t!), dtype: t!.type.dtype }), i!, dy]),
        undefined,
      ];
    },
    cost: (v) => {
      const bytes = 2 * bytesOf(v.type) + bytesOf(v.inputs[1]!.type);
      return { flops: 0, bytes, gathered: bytes };
    },
    ref: ([t, i], v, ctx) => {
      const out = like(ctx, v.type);
      const row = size(t!.shape.slice(1));
      const rows = t!.shape[0]!;
      for (let k = 0; k < i!.data.length; k++) {
        const r = i!.data[k]!;
        checkIndex(r, rows, 'gather');
        for (let j = 0; j < row; j++) out[k * row + j] = t!.data[r * row + j]!;
      }
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    name: 'scatter_add',
    class: 'elementwise',
    arity: 3,
    attrs: {},
    infer: ([base, i, upd]) => {
      requireRank(base!, 1, 'scatter_add (base)');
      if (i!.dtype !== 'i32') throw new ShapeError(`scatter_add indices must be i32, got ${i!.dtype}`);
      const want = [...i!.shape, ...base!.shape.slice(1)];
      if (want.length !== upd!.shape.length || !want.every((d, k) => sameDim(d, upd!.shape[k]!)))
        throw new ShapeError(`scatter_add updates are [${upd!.shape}], expected [${want}]`);
      return { ...base! };
    },
    grad: (b, v, dy) => [dy, undefined, b.op('gather', [dy, v.inputs[1]!])],
    cost: (v) => {
      const c = streamingCost(v, 1);
      return { ...c, gathered: c.bytes };
    },
    ref: ([base, i, upd], v, ctx) => {
      const out = like(ctx, v.type);
      out.set(base!.data);
      const row = size(base!.shape.slice(1));
      const rows = base!.shape[0]!;
      for (let k = 0; k < i!.data.length; k++) {
        const r = i!.data[k]!;
        checkIndex(r, rows, 'scatter_add');
        for (let j = 0; j < row; j++) out[r * row + j] += upd!.data[k * row + j]!;
      }
      return { data: out, shape: shapeOf(v) };
    },
  },
];
