import type { Attrs } from '../graph.ts';
import type { OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { sameShape } from './util.ts';
import { ShapeError, type TensorType } from '../types.ts';
import { like, num, shapeOf } from './util.ts';

function sameAsFirst(name: string) {
  return (ins: TensorType[]): TensorType => {
    for (const t of ins.slice(1))
      if (t.shape.length && !sameShape(t.shape, ins[0]!.shape)) throw new ShapeError(`${name}: operand shapes differ`);
    return { ...ins[0]! };
  };
}

const noGrad = 'optimizer update (not differentiated)';

/** The settings of an `adam_step`, for its CPU reference and its kernels. */
export const adamStepAttrs = (a: Attrs) => ({
  lr: num(a, 'lr'),
  b1: num(a, 'beta1'),
  b2: num(a, 'beta2'),
  eps: num(a, 'eps'),
  decay: num(a, 'decay'),
});

/**
 * Optimizer updates: `sgd(p, g) {lr}`, the Adam moments `adam_m(m, g) {beta}` and `adam_v(v, g) {beta}`,
 * and `adam_step(p, m, v, t) {lr, beta1, beta2, eps, decay}` (bias-corrected, `decay` is AdamW's decoupled decay).
 */
export const optimizerOps: OpDef[] = [
  {
    name: 'sgd',
    class: 'optimizer',
    arity: 2,
    attrs: { lr: { kind: 'number' } },
    infer: sameAsFirst('sgd'),
    noGrad,
    cost: (v) => streamingCost(v, 2),
    ref: ([p, g], v, ctx) => {
      const out = like(ctx, v.type);
      const lr = num(v.attrs, 'lr');
      for (let i = 0; i < out.length; i++) out[i] = p!.data[i]! - lr * g!.data[i]!;
      return { data: out, shape: shapeOf(v) };
    },
  },
  ...(['adam_m', 'adam_v'] as const).map(
    (name): OpDef => ({
      name,
      class: 'optimizer',
      arity: 2,
      attrs: { beta: { kind: 'number' } },
      infer: sameAsFirst(name),
      noGrad,
      cost: (v) => streamingCost(v, 3),
      ref: ([m, g], v, ctx) => {
        const out = like(ctx, v.type);
        const b = num(v.attrs, 'beta');
        for (let i = 0; i < out.length; i++) {
          const gi = g!.data[i]!;
          out[i] = b * m!.data[i]! + (1 - b) * (name === 'adam_m' ? gi : gi * gi);
        }
        return { data: out, shape: shapeOf(v) };
      },
    }),
  ),
  {
    name: 'adam_step',
    class: 'optimizer',
    arity: 4,
    attrs: {
      lr: { kind: 'number' },
      beta1: { kind: 'number' },
      beta2: { kind: 'number' },
      eps: { kind: 'number' },
      decay: { kind: 'number' },
    },
    infer: sameAsFirst('adam_step'),
    noGrad,
    cost: (v) => streamingCost(v, 10),
    ref: ([p, m, vv, t], v, ctx) => {
      const out = like(ctx, v.type);
      const { lr, b1, b2, eps, decay } = adamStepAttrs(v.attrs);
      const step = t!.data[0]!;
      const c1 = 1 - b1 ** step;
      const c2 = 1 - b2 ** step;
      for (let i = 0; i < out.length; i++) {
        const pi = p!.data[i]!;
        out[i] = pi - lr * (m!.data[i]! / c1 / (Math.sqrt(vv!.data[i]! / c2) + eps) + decay * pi);
      }
      return { data: out, shape: shapeOf(v) };
    },
  },
];

/** The names of the optimizer update ops. */
export const OPTIMIZER_OPS: ReadonlySet<string> = new Set(optimizerOps.map((d) => d.name));
