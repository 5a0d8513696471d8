import type { Builder } from '../builder.ts';
import type { Value } from '../graph.ts';
import * as K from '../../kernel/build.ts';
import type { Bind } from '../../kernel/build.ts';
import type { Expr } from '../../kernel/ir.ts';

/**
 * The FP8 formats of Micikevicius et al. (2022, "FP8 formats for deep learning"), as H100s and Transformer Engine use
 * them: E4M3 for weights and activations (largest 448, no infinities), E5M2 for gradients (largest 57,344).
 * `emin`: the smallest normal exponent; below it values are subnormal, in steps of 2^(emin − mantissa).
 */
export const FP8_FORMATS = {
  e4m3: { max: 448, mantissa: 3, emin: -6 },
  e5m2: { max: 57344, mantissa: 2, emin: -14 },
} as const;
export type Fp8Format = keyof typeof FP8_FORMATS;

/**
 * y rounded to the format's nearest value (ties away from zero; hardware casts break ties to even, which differs only
 * on exact ties), saturating at ±max: the exponent of |y| (from its logarithm, corrected by a power of two either way,
 * never below emin) sets the step 2^(e − mantissa).
 */
function roundTo(y: Expr, f: (typeof FP8_FORMATS)[Fp8Format], bind: Bind): Expr {
  const a = bind(K.select(K.lt(y, K.f32(0)), K.neg(y), y));
  const lg = bind(K.div(K.call('log', K.max(a, K.f32(2 ** f.emin))), K.f32(Math.LN2)));
  const t = bind(K.cast('f32', K.cast('i32', lg)));
  const e0 = bind(K.max(K.select(K.lt(lg, t), K.sub(t, K.f32(1)), t), K.f32(f.emin)));
  const p0 = bind(K.call('pow', K.f32(2), e0));
  // log's rounding may put a power of two a step low or high
  const e1 = bind(K.select(K.ge(a, K.mul(p0, K.f32(2))), K.add(e0, K.f32(1)), e0));
  const e = bind(K.select(K.and(K.lt(a, p0), K.gt(e1, K.f32(f.emin))), K.sub(e1, K.f32(1)), e1));
  const step = bind(K.call('pow', K.f32(2), K.sub(e, K.f32(f.mantissa))));
  const r = bind(K.min(K.mul(K.cast('f32', K.cast('i32', K.add(K.div(a, step), K.f32(0.5)))), step), K.f32(f.max)));
  return K.select(K.lt(y, K.f32(0)), K.neg(r), r);
}

/** `fp8_<format>(x, s)`: x scaled by s, rounded to the format, scaled back (quantise-dequantise). */
export const FP8_SCALAR = Object.fromEntries(
  (Object.keys(FP8_FORMATS) as Fp8Format[]).map((fmt) => [
    `fp8_${fmt}`,
    {
      arity: 2,
      expr: ([x, s]: Expr[], bind: Bind) => K.div(roundTo(bind(K.mul(x!, s!)), FP8_FORMATS[fmt], bind), s!),
      flops: 16,
    },
  ]),
) as Record<'fp8_e4m3' | 'fp8_e5m2', { arity: number; expr: (args: Expr[], bind: Bind) => Expr; flops: number }>;

/** max |x| over every element, as a scalar of x's dtype. */
export const amax = (b: Builder, x: Value): Value =>
  b.op('max', [b.op('abs', [x])], { axes: x.type.shape.map((_, i) => i), keepdims: false });

/**
 * The scale that maps `amax` onto the format's largest value (Transformer Engine's per-tensor scaling; a tensor whose
 * amax is 0 keeps scale 1), computed in fp32 and given in `dtype`.
 */
export function scaleFor(b: Builder, amaxValue: Value, fmt: Fp8Format, dtype = amaxValue.type.dtype): Value {
  const { max } = FP8_FORMATS[fmt];
  const a = amaxValue.type.dtype === 'f32' ? amaxValue : b.op('cast', [amaxValue], { dtype: 'f32' });
  // 1 when amax is 0 (then the denominator is max), 0 for any amax of 1e-30 or more
  const zero = b.op('relu', [b.op('sub', [b.scalar(1), b.op('mul', [a, b.scalar(1e30)])])]);
  const s = b.op('div', [b.scalar(max), b.op('add', [a, b.op('mul', [zero, b.scalar(max)])])]);
  return dtype === 'f32' ? s : b.op('cast', [s], { dtype });
}

/** A gradient rounded to E5M2 under its own current scale (the backward of an FP8 matmul). */
export const quantizeGrad = (b: Builder, dy: Value): Value =>
  b.op('fp8_e5m2', [dy, scaleFor(b, amax(b, dy), 'e5m2', dy.type.dtype)]);
