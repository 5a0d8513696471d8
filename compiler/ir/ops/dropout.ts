import type { OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { ShapeError } from '../types.ts';
import { like, num, requireFloat, shapeOf } from './util.ts';

/** murmur3's 32-bit finaliser; the same integer arithmetic runs in WGSL and CUDA. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in [0, 1) for element `i` of a dropout with `seed` at training step `step`. */
export function dropoutUniform(seed: number, step: number, i: number): number {
  return (fmix32(fmix32(fmix32(seed >>> 0) ^ (step >>> 0)) ^ (i >>> 0)) >>> 8) / 16777216;
}

/**
 * `dropout(x, step) {p, seed, offset}`: zeroes each element with probability p and scales the rest by 1/(1-p).
 * The mask is a pure function of (seed, step, element index), so the backward pass is the same dropout of dy.
 * `offset` (0 by default) is added to the element index: a block of a tensor that starts at element `offset` draws the
 * mask the whole tensor draws there.
 */
export const dropoutOps: OpDef[] = [
  {
    name: 'dropout',
    class: 'elementwise',
    arity: 2,
    attrs: { p: { kind: 'number' }, seed: { kind: 'int' }, offset: { kind: 'int', optional: true } },
    infer: ([x, s], a) => {
      requireFloat(x!, 'dropout');
      if (s!.dtype !== 'i32' || s!.shape.length !== 0) throw new ShapeError('dropout step must be an i32 scalar');
      const p = num(a, 'p');
      if (!(p >= 0 && p < 1)) throw new ShapeError(`dropout probability must be in [0, 1), got ${p}`);
      return { ...x! };
    },
    grad: (b, v, dy) => [b.op('dropout', [dy, v.inputs[1]!], { ...v.attrs }), undefined],
    cost: (v) => streamingCost(v, 6),
    ref: ([x, s], v, ctx) => {
      const out = like(ctx, v.type);
      const p = num(v.attrs, 'p');
      const seed = num(v.attrs, 'seed');
      const step = s!.data[0]!;
      const scale = 1 / (1 - p);
      const offset = num(v.attrs, 'offset', 0);
      for (let i = 0; i < out.length; i++) {
        const xi = x!.data[i]!;
        out[i] = xi === 0 || dropoutUniform(seed, step, i + offset) < p ? 0 : xi * scale; // a zero skips its hash
      }
      return { data: out, shape: shapeOf(v) };
    },
  },
];
