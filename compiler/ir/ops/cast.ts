import type { OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { ShapeError, type DType } from '../types.ts';
import { like, shapeOf } from './util.ts';

const FLOATS: readonly DType[] = ['f64', 'f32', 'bf16', 'f16'];

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** x rounded to bfloat16 (8 exponent bits, 7 mantissa bits), to nearest even. */
export function roundBf16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000) return f32[0]!; // inf, NaN
  u32[0] = ((b + 0x7fff + ((b >>> 16) & 1)) & 0xffff0000) >>> 0;
  return f32[0]!;
}

/** x rounded to IEEE half precision (5 exponent bits, 10 mantissa bits), to nearest even; overflow is ±inf. */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  const lo = Math.floor(q);
  const up = q - lo > 0.5 || (q - lo === 0.5 && lo % 2 === 1);
  return Math.sign(x) * (up ? lo + 1 : lo) * ulp;
}

/** Rounds a float array in place to a storage dtype (bf16 and f16 are emulated in f32 arrays). */
export function roundTo(dtype: DType, data: Float32Array | Float64Array): void {
  if (dtype === 'bf16') for (let i = 0; i < data.length; i++) data[i] = roundBf16(data[i]!);
  else if (dtype === 'f16') for (let i = 0; i < data.length; i++) data[i] = roundF16(data[i]!);
}

/**
 * `cast(x) {dtype}`: a float tensor in another float dtype (mixed precision: fp32 master weights, bf16/fp16 compute).
 */
export const castOps: OpDef[] = [
  {
    name: 'cast',
    class: 'elementwise',
    arity: 1,
    attrs: { dtype: { kind: 'string' } },
    infer: ([x], a) => {
      const to = a['dtype'] as DType;
      if (!FLOATS.includes(x!.dtype) || !FLOATS.includes(to))
        throw new ShapeError(
          `cast converts between float dtypes (${FLOATS.join(', ')}), not ${x!.dtype} to ${String(to)}`,
        );
      return { dtype: to, shape: [...x!.shape] };
    },
    grad: (b, v, dy) => [b.op('cast', [dy], { dtype: v.inputs[0]!.type.dtype })],
    cost: (v) => streamingCost(v, 1),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type) as Float32Array;
      out.set(x!.data);
      roundTo(v.type.dtype, out);
      return { data: out, shape: shapeOf(v) };
    },
  },
];
