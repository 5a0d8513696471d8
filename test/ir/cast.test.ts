import { describe, expect, it } from 'vitest';
import { roundBf16, roundF16, roundTo } from '../../compiler/ir/ops/cast.ts';
import { getOp } from '../../compiler/ir/ops/registry.ts';
import { ShapeError } from '../../compiler/ir/types.ts';

/**
 * Half-precision rounding against values worked out from the formats' definitions (IEEE 754
 * binary16: 10 fraction bits, exponents −14…15; bfloat16: float32 with 7 fraction bits), round to
 * nearest, ties to even.
 */
describe('half-precision rounding', () => {
  it.each([
    [1, 1],
    [1 + 2 ** -11, 1], // halfway between 1 and 1 + 2⁻¹⁰: to the even one
    [1 + 3 * 2 ** -11, 1 + 2 ** -9], // halfway between 1 + 2⁻¹⁰ and 1 + 2⁻⁹: to the even one
    [1 + 2 ** -11 + 2 ** -20, 1 + 2 ** -10], // just past halfway: up
    [-(1 + 3 * 2 ** -11), -(1 + 2 ** -9)],
    [65504, 65504], // the largest
    [65519, 65504], // below the halfway point to 65536
    [65520, Infinity], // at it: overflow
    [-70000, -Infinity],
    [2 ** -24, 2 ** -24], // the smallest subnormal
    [2 ** -25, 0], // halfway to it: to even, 0
    [3 * 2 ** -26, 2 ** -24],
    [2 ** -14 + 2 ** -25, 2 ** -14], // a normal that rounds within the subnormal spacing
    [Infinity, Infinity],
    [-Infinity, -Infinity],
  ])('f16(%f) = %f', (x, want) => expect(roundF16(x)).toBe(want));

  it('f16 keeps NaN and the sign of zero', () => {
    expect(roundF16(NaN)).toBeNaN();
    expect(Object.is(roundF16(-0), -0)).toBe(true);
  });

  it.each([
    [1, 1],
    [1 + 2 ** -8, 1], // halfway between 1 and 1 + 2⁻⁷: to the even one
    [1 + 3 * 2 ** -8, 1 + 2 ** -6],
    [1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7],
    [-(1 + 3 * 2 ** -8), -(1 + 2 ** -6)],
    [3.4028234663852886e38, Infinity], // float32's largest rounds past bfloat16's
    [Infinity, Infinity],
    [-Infinity, -Infinity],
  ])('bf16(%f) = %f', (x, want) => expect(roundBf16(x)).toBe(want));

  it('bf16 keeps NaN, also one whose payload would carry out of the exponent when rounded', () => {
    expect(roundBf16(NaN)).toBeNaN();
    const bits = new Uint32Array([0x7fffffff]);
    expect(roundBf16(new Float32Array(bits.buffer)[0]!)).toBeNaN();
  });

  it('roundTo rounds every element for a half dtype and none for f32 or f64', () => {
    const xs = [1 + 2 ** -9, 1 + 3 * 2 ** -11, 70000, 1 + 3 * 2 ** -8];
    const f16 = Float32Array.from(xs);
    roundTo('f16', f16);
    expect(Array.from(f16)).toEqual(xs.map(roundF16));
    const bf16 = Float32Array.from(xs);
    roundTo('bf16', bf16);
    expect(Array.from(bf16)).toEqual(xs.map(roundBf16));
    for (const dtype of ['f32', 'f64'] as const) {
      const same = Float64Array.from(xs);
      roundTo(dtype, same);
      expect(Array.from(same)).toEqual(xs);
    }
  });
});

describe('cast', () => {
  it.each([
    ['i32', 'f32'],
    ['f32', 'i32'],
    ['i8', 'f16'],
  ] as const)('refuses %s to %s', (from, to) => {
    const infer = () => getOp('cast').infer([{ dtype: from, shape: [2] }], { dtype: to });
    expect(infer).toThrow(ShapeError);
    expect(infer).toThrow(`cast converts between float dtypes (f64, f32, bf16, f16), not ${from} to ${to}`);
  });
  it('converts between floats, keeping the shape', () => {
    expect(getOp('cast').infer([{ dtype: 'f32', shape: [2, 3] }], { dtype: 'bf16' })).toEqual({
      dtype: 'bf16',
      shape: [2, 3],
    });
  });
});
