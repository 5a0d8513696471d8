import type { OpDef } from '../op.ts';
import { bytesOf, elems, IndexOutOfRange } from '../op.ts';
import { sameDim, ShapeError } from '../types.ts';
import { like, requireFloat, requireRank } from './util.ts';

/** `cross_entropy(logits [..., C], targets i32[...])`: mean negative log-likelihood over all rows. */
export const lossOps: OpDef[] = [
  {
    name: 'cross_entropy',
    class: 'elementwise',
    arity: 2,
    attrs: {},
    infer: ([l, t]) => {
      requireFloat(l!, 'cross_entropy (logits)');
      requireRank(l!, 1, 'cross_entropy (logits)');
      if (t!.dtype !== 'i32') throw new ShapeError(`cross_entropy targets must be i32 class ids, got ${t!.dtype}`);
      if (l!.shape.at(-1) === 0) throw new ShapeError('cross_entropy needs at least one class; the logits have 0');
      const lead = l!.shape.slice(0, -1);
      if (lead.length !== t!.shape.length || !lead.every((d, i) => sameDim(d, t!.shape[i]!)))
        throw new ShapeError(`logits [${l!.shape}] need targets of shape [${lead}], got [${t!.shape}]`);
      return { dtype: l!.dtype, shape: [] };
    },
    grad: (b, v, dy) => [b.op('cross_entropy_grad', [v.inputs[0]!, v.inputs[1]!, dy]), undefined],
    cost: (v) => ({
      flops: 5 * elems(v.inputs[0]!.type),
      bytes: bytesOf(v.inputs[0]!.type) + bytesOf(v.inputs[1]!.type),
    }),
    ref: ([l, t], v, ctx) => {
      const out = like(ctx, v.type);
      const c = l!.shape.at(-1)!;
      const rows = t!.data.length;
      let total = 0;
      for (let r = 0; r < rows; r++) {
        const o = r * c;
        const y = t!.data[r]!;
        if (!(y >= 0 && y < c))
          throw new IndexOutOfRange(`cross_entropy: target ${y} is out of range for ${c} classes`);
        let mx = -Infinity;
        for (let j = 0; j < c; j++) mx = Math.max(mx, l!.data[o + j]!);
        let s = 0;
        for (let j = 0; j < c; j++) s += Math.exp(l!.data[o + j]! - mx);
        total += mx + Math.log(s) - l!.data[o + y]!;
      }
      out[0] = total / rows;
      return { data: out, shape: [] };
    },
  },
  {
    name: 'cross_entropy_grad',
    class: 'elementwise',
    arity: 3,
    attrs: {},
    infer: ([l]) => ({ ...l! }),
    noGrad: 'backward op (no second-order derivatives)',
    cost: (v) => ({ flops: 5 * elems(v.type), bytes: 2 * bytesOf(v.type) }),
    ref: ([l, t, dy], v, ctx) => {
      const out = like(ctx, v.type);
      const c = l!.shape.at(-1)!;
      const rows = t!.data.length;
      const g = dy!.data[0]! / rows;
      for (let r = 0; r < rows; r++) {
        const o = r * c;
        let mx = -Infinity;
        for (let j = 0; j < c; j++) mx = Math.max(mx, l!.data[o + j]!);
        let s = 0;
        for (let j = 0; j < c; j++) s += out[o + j] = Math.exp(l!.data[o + j]! - mx);
        for (let j = 0; j < c; j++) out[o + j] = (out[o + j]! / s) * g;
        out[o + t!.data[r]!] -= g;
      }
      return { data: out, shape: l!.shape };
    },
  },
];
