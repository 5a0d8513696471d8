import type { OpDef } from '../op.ts';
import { ShapeError } from '../types.ts';
import { streamingCost } from '../op.ts';
import { alibiBias } from './attention.ts';
import { like, num, requireRank, shapeOf } from './util.ts';

/**
 * `causal_mask {fill}`: over scores x[..., t, s] of t queries that are the last t of s keys (t = s in
 * training; t < s when decoding after a KV cache), x[i, j] where key j ≤ query i's position s − t + i,
 * `fill` (-inf before a softmax) elsewhere. `alibi_bias {heads, alibi}`: ALiBi's bias added to scores
 * x[..., t, s] whose leading axes hold `heads` heads (`alibiBias`).
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
  {
    name: 'alibi_bias',
    class: 'attention',
    arity: 1,
    attrs: { heads: { kind: 'int' }, alibi: { kind: 'number' } },
    infer: ([x], at) => {
      requireRank(x!, 2, 'alibi_bias');
      const heads = num(at, 'heads');
      const lead = x!.shape.slice(0, -2);
      if (lead.every((d) => typeof d === 'number') && (lead as number[]).reduce((a, d) => a * d, 1) % heads)
        throw new ShapeError(`alibi_bias: the scores' leading axes [${lead}] do not hold ${heads} heads`);
      return { ...x! };
    },
    grad: (_b, _v, dy) => [dy],
    cost: (v) => streamingCost(v, 2),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const [t, s] = shapeOf(v).slice(-2) as [number, number];
      const heads = num(v.attrs, 'heads');
      const z = { h: heads, t, s, alibi: num(v.attrs, 'alibi') };
      for (let o = 0, m = 0; o < out.length; o += t * s, m++)
        for (let i = 0; i < t; i++)
          for (let j = 0; j < s; j++) out[o + i * s + j] = x!.data[o + i * s + j]! + alibiBias(z, m % heads, i, j);
      return { data: out, shape: shapeOf(v) };
    },
  },
];
