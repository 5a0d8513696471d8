import type { OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { ShapeError } from '../types.ts';
import { like, num, requireFloat, requireRank, shapeOf } from './util.ts';

/**
 * `rope(x) {base, sign}`: rotary position embedding (Su et al. 2021, as Llama applies it) over
 * x[..., T, h]: for position t and i < h/2, the pair (x_i, x_{i+h/2}) is rotated by
 * sign·t·base^(−2i/h), where t counts from `offset` (the tokens already in a KV cache). A rotation's adjoint is the
 * rotation back, so the gradient is `rope` with −sign.
 */
export const ropeOps: OpDef[] = [
  {
    name: 'rope',
    class: 'elementwise',
    arity: 1,
    attrs: { base: { kind: 'number' }, sign: { kind: 'number' }, offset: { kind: 'int', optional: true } },
    infer: ([x]) => {
      requireFloat(x!, 'rope');
      requireRank(x!, 2, 'rope');
      const h = x!.shape.at(-1)!;
      if (typeof h === 'number' && h % 2 !== 0)
        throw new ShapeError(`rope rotates pairs: the last axis must be even, got ${h}`);
      return { ...x! };
    },
    grad: (b, v, dy) => [b.op('rope', [dy], { ...v.attrs, sign: -num(v.attrs, 'sign') })],
    cost: (v) => streamingCost(v, 6),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const [t, h] = shapeOf(v).slice(-2) as [number, number];
      const half = h / 2;
      const base = num(v.attrs, 'base');
      const sign = num(v.attrs, 'sign');
      const offset = Number(v.attrs['offset'] ?? 0);
      for (let o = 0; o < out.length; o += t * h)
        for (let p = 0; p < t; p++)
          for (let i = 0; i < half; i++) {
            const angle = sign * (p + offset) * base ** ((-2 * i) / h);
            const c = Math.cos(angle);
            const s = Math.sin(angle);
            const at = o + p * h + i;
            const a = x!.data[at]!;
            const z = x!.data[at + half]!;
            out[at] = a * c - z * s;
            out[at + half] = z * c + a * s;
          }
      return { data: out, shape: shapeOf(v) };
    },
  },
];
