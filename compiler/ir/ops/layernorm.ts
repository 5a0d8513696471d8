import type { OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { floatLike, like, num, sameShapes } from './util.ts';

/** Mean and 1/sqrt(var + eps) of one row. */
function rowStats(xs: ArrayLike<number>, o: number, n: number, eps: number): [number, number] {
  let mean = 0;
  for (let j = 0; j < n; j++) mean += xs[o + j]!;
  mean /= n;
  let vr = 0;
  for (let j = 0; j < n; j++) vr += (xs[o + j]! - mean) ** 2;
  return [mean, 1 / Math.sqrt(vr / n + eps)];
}

/** `layernorm {eps}`: (x - mean) / sqrt(var + eps) over the last axis (the affine part is ordinary mul/add). */
export const layernormOps: OpDef[] = [
  {
    name: 'layernorm',
    arity: 1,
    attrs: { eps: { kind: 'number' } },
    infer: floatLike('layernorm', 1),
    grad: (b, v, dy) => [b.op('layernorm_grad', [v.inputs[0]!, dy], { eps: v.attrs['eps']! })],
    cost: (v) => streamingCost(v, 8),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const n = x!.shape.at(-1)!;
      const r = x!.data.length / n;
      const eps = num(v.attrs, 'eps');
      const xs = x!.data;
      for (let i = 0; i < r; i++) {
        const o = i * n;
        const [mean, inv] = rowStats(xs, o, n, eps);
        for (let j = 0; j < n; j++) out[o + j] = (xs[o + j]! - mean) * inv;
      }
      return { data: out, shape: x!.shape };
    },
  },
  {
    name: 'layernorm_grad',
    arity: 2,
    attrs: { eps: { kind: 'number' } },
    infer: sameShapes('layernorm_grad'),
    noGrad: 'backward op (no second-order derivatives)',
    cost: (v) => streamingCost(v, 12),
    ref: ([x, dy], v, ctx) => {
      const out = like(ctx, v.type);
      const n = x!.shape.at(-1)!;
      const r = x!.data.length / n;
      const eps = num(v.attrs, 'eps');
      const xs = x!.data;
      const ds = dy!.data;
      for (let i = 0; i < r; i++) {
        const o = i * n;
        const [mean, inv] = rowStats(xs, o, n, eps);
        let sdy = 0;
        let sdyx = 0;
        for (let j = 0; j < n; j++) {
          sdy += ds[o + j]!;
          sdyx += ds[o + j]! * (xs[o + j]! - mean) * inv;
        }
        for (let j = 0; j < n; j++) {
          const xh = (xs[o + j]! - mean) * inv;
          out[o + j] = inv * (ds[o + j]! - sdy / n - (xh * sdyx) / n);
        }
      }
      return { data: out, shape: x!.shape };
    },
  },
];
