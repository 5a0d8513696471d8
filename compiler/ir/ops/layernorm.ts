import type { OpDef } from '../op.ts';
import { bytesOf, elems, streamingCost } from '../op.ts';
import { ShapeError } from '../types.ts';
import { like, num, requireFloat, requireRank, shapeOf } from './util.ts';

/** Mean and 1/sqrt(var + eps) of one row. */
function rowStats(xs: ArrayLike<number>, o: number, n: number, eps: number): [number, number] {
  let mean = 0;
  for (let j = 0; j < n; j++) mean += xs[o + j]!;
  mean /= n;
  let vr = 0;
  for (let j = 0; j < n; j++) vr += (xs[o + j]! - mean) ** 2;
  return [mean, 1 / Math.sqrt(vr / n + eps)];
}

const rowsOf = (x: { data: ArrayLike<number>; shape: number[] }): [number, number] => {
  const n = x.shape.at(-1)!;
  return [x.data.length / n, n];
};

/**
 * Layer normalisation over the last axis as two ops, so that the backward pass keeps the normalised
 * output and a scalar per row rather than the input (the affine part, ordinary mul/add, keeps the
 * normalised output anyway): `layernorm_rstd {eps}(x)` = 1/sqrt(var + eps) per row, [..., 1];
 * `layernorm(x, rstd)` = (x − mean) · rstd; its gradient with respect to x, through the mean and rstd,
 * is `layernorm_grad(y, rstd, dy)` = rstd · (dy − mean(dy) − y · mean(dy · y)).
 */
export const layernormOps: OpDef[] = [
  {
    name: 'layernorm_rstd',
    class: 'elementwise',
    arity: 1,
    attrs: { eps: { kind: 'number' } },
    infer: ([x]) => {
      requireFloat(x!, 'layernorm');
      requireRank(x!, 1, 'layernorm');
      return { dtype: x!.dtype, shape: [...x!.shape.slice(0, -1), 1] };
    },
    noGrad: 'a statistic of layernorm: layernorm_grad carries the gradient through it',
    cost: (v) => ({ flops: 3 * elems(v.inputs[0]!.type), bytes: bytesOf(v.inputs[0]!.type) + bytesOf(v.type) }),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const [r, n] = rowsOf(x!);
      for (let i = 0; i < r; i++) out[i] = rowStats(x!.data, i * n, n, num(v.attrs, 'eps'))[1];
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    name: 'layernorm',
    class: 'elementwise',
    arity: 2,
    attrs: {},
    infer: ([x, r]) => {
      requireFloat(x!, 'layernorm');
      if (r!.shape.length !== x!.shape.length || r!.shape.at(-1) !== 1)
        throw new ShapeError(`layernorm: rstd must be [..., 1] beside x, got [${r!.shape}] for [${x!.shape}]`);
      return { ...x! };
    },
    grad: (b, v, dy) => [b.op('layernorm_grad', [v, v.inputs[1]!, dy]), undefined],
    cost: (v) => streamingCost(v, 3),
    ref: ([x, rs], v, ctx) => {
      const out = like(ctx, v.type);
      const [r, n] = rowsOf(x!);
      const xs = x!.data;
      for (let i = 0; i < r; i++) {
        const o = i * n;
        let mean = 0;
        for (let j = 0; j < n; j++) mean += xs[o + j]!;
        mean /= n;
        for (let j = 0; j < n; j++) out[o + j] = (xs[o + j]! - mean) * rs!.data[i]!;
      }
      return { data: out, shape: x!.shape };
    },
  },
  {
    name: 'layernorm_grad',
    class: 'elementwise',
    arity: 3,
    attrs: {},
    infer: ([y, , dy]) => {
      if (String(y!.shape) !== String(dy!.shape))
        throw new ShapeError(`layernorm_grad: y [${y!.shape}] and dy [${dy!.shape}] differ`);
      return { ...y! };
    },
    noGrad: 'backward op (no second-order derivatives)',
    cost: (v) => streamingCost(v, 6),
    ref: ([y, rs, dy], v, ctx) => {
      const out = like(ctx, v.type);
      const [r, n] = rowsOf(y!);
      const ys = y!.data;
      const ds = dy!.data;
      for (let i = 0; i < r; i++) {
        const o = i * n;
        let sdy = 0;
        let sdyy = 0;
        for (let j = 0; j < n; j++) {
          sdy += ds[o + j]!;
          sdyy += ds[o + j]! * ys[o + j]!;
        }
        const inv = rs!.data[i]!;
        for (let j = 0; j < n; j++) out[o + j] = inv * (ds[o + j]! - sdy / n - (ys[o + j]! * sdyy) / n);
      }
      return { data: out, shape: y!.shape };
    },
  },
];
