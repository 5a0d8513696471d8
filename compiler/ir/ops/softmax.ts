import type { OpDef } from '../op.ts';
import { streamingCost, overHeads } from '../op.ts';
import { floatLike, like, sameShapes, shapeOf } from './util.ts';

/** Softmax and log-softmax over the last axis, with their backward ops. */
function rows(shape: number[]): [number, number] {
  const n = shape.at(-1)!;
  return [shape.reduce((a, d) => a * d, 1) / n, n];
}

/** max and log-sum-exp of one row. */
function logSumExp(xs: ArrayLike<number>, o: number, n: number): [number, number] {
  let mx = -Infinity;
  for (let j = 0; j < n; j++) mx = Math.max(mx, xs[o + j]!);
  let s = 0;
  for (let j = 0; j < n; j++) s += Math.exp(xs[o + j]! - mx);
  return [mx, mx + Math.log(s)];
}

/** softmax (exp(x - lse)) or log-softmax (x - lse) of every row of the last axis. */
function rowwise(name: 'softmax' | 'log_softmax'): OpDef {
  return {
    name,
    class: overHeads('elementwise'),
    arity: 1,
    attrs: {},
    infer: floatLike(name, 1),
    grad: (b, v, dy) => [b.op(`${name}_grad`, [v, dy])],
    cost: (v) => streamingCost(v, 5),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const [r, n] = rows(x!.shape);
      const xs = x!.data;
      for (let i = 0; i < r; i++) {
        const o = i * n;
        const [, lse] = logSumExp(xs, o, n);
        for (let j = 0; j < n; j++) out[o + j] = name === 'softmax' ? Math.exp(xs[o + j]! - lse) : xs[o + j]! - lse;
      }
      return { data: out, shape: x!.shape };
    },
  };
}

export const softmaxOps: OpDef[] = [
  rowwise('softmax'),
  rowwise('log_softmax'),
  ...(['softmax_grad', 'log_softmax_grad'] as const).map(
    (name): OpDef => ({
      name,
      class: overHeads('elementwise'),
      arity: 2,
      attrs: {},
      infer: sameShapes(name),
      noGrad: 'backward op (no second-order derivatives)',
      cost: (v) => streamingCost(v, 4),
      ref: ([y, dy], v, ctx) => {
        const out = like(ctx, v.type);
        const [r, n] = rows(shapeOf(v));
        const ys = y!.data;
        const ds = dy!.data;
        for (let i = 0; i < r; i++) {
          const o = i * n;
          let s = 0;
          if (name === 'softmax_grad') {
            for (let j = 0; j < n; j++) s += ds[o + j]! * ys[o + j]!;
            for (let j = 0; j < n; j++) out[o + j] = ys[o + j]! * (ds[o + j]! - s);
          } else {
            for (let j = 0; j < n; j++) s += ds[o + j]!;
            for (let j = 0; j < n; j++) out[o + j] = ds[o + j]! - Math.exp(ys[o + j]!) * s;
          }
        }
        return { data: out, shape: shapeOf(v) };
      },
    }),
  ),
];
