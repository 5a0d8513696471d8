import type { OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { like, num, requireRank, shapeOf } from './util.ts';

/**
 * `causal_mask {fill}`: over scores x[..., t, s] of t queries that are the last t of s keys (t = s in
 * training; t < s when decoding after a KV cache), x[i, j] where key j ≤ query i's position s − t + i,
 * `fill` (-inf before a softmax) elsewhere.
 */
export const maskOps: OpDef[] = [
  {
    name: 'causal_mask',
    class: 'attention',
    arity: 1,
    attrs: { fill: { kind: 'number' } },
    infer: ([x]) => {
      requireRank(x!, 2, 'causal_mask');
      return { ...x! };
    },
    grad: (b, _v, dy) => [b.op('causal_mask', [dy], { fill: 0 })],
    cost: (v) => streamingCost(v, 1),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const [t, s] = shapeOf(v).slice(-2) as [number, number];
      const fill = num(v.attrs, 'fill');
      for (let o = 0; o < out.length; o += t * s)
        for (let i = 0; i < t; i++)
          for (let j = 0; j < s; j++) out[o + i * s + j] = j > s - t + i ? fill : x!.data[o + i * s + j]!;
      return { data: out, shape: shapeOf(v) };
    },
  },
];
