import { describe, expect, it } from 'vitest';
import type { Value } from '../../compiler/ir/graph.ts';
import { flopsOf, getOp } from '../../compiler/ir/ops/registry.ts';
import { ShapeError } from '../../compiler/ir/types.ts';
import { opValue, refContext } from '../helpers/op-value.ts';

/**
 * The optimizer updates' CPU references against the updates written out here in float64 (SGD; Adam's moments;
 * Loshchilov & Hutter's AdamW step with bias correction), and their shape rule.
 */
const f32 = (...shape: number[]) => ({ dtype: 'f32' as const, shape });
const data = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));
const run = (op: string, attrs: Record<string, number>, ins: { data: Float64Array; shape: number[] }[]) =>
  getOp(op).ref(
    ins,
    opValue(
      op,
      ins.map((t) => f32(...t.shape)),
      attrs,
    ),
    refContext(true),
  );

describe('optimizer updates against the written-out rules', () => {
  const p = { data: data(6, 1), shape: [2, 3] };
  const g = { data: data(6, 2), shape: [2, 3] };

  it('sgd: p − lr·g', () => {
    const r = run('sgd', { lr: 0.3 }, [p, g]);
    expect(r.shape).toEqual([2, 3]);
    expect([...r.data]).toEqual([...p.data].map((x, i) => x - 0.3 * g.data[i]!));
  });

  it('adam_m: β·m + (1 − β)·g; adam_v: β·v + (1 − β)·g²', () => {
    const m = { data: data(6, 3), shape: [2, 3] };
    const close = (got: ArrayLike<number>, want: number[]) => want.forEach((x, i) => expect(got[i]).toBeCloseTo(x, 14));
    close(
      run('adam_m', { beta: 0.9 }, [m, g]).data,
      [...m.data].map((x, i) => 0.9 * x + 0.1 * g.data[i]!),
    );
    const v = { data: data(6, 4).map(Math.abs), shape: [2, 3] };
    const r = run('adam_v', { beta: 0.999 }, [v, g]);
    close(
      r.data,
      [...v.data].map((x, i) => 0.999 * x + 0.001 * g.data[i]! ** 2),
    );
    expect(r.shape).toEqual([2, 3]);
  });

  it('adam_step at step 3: p − lr·(m̂ / (√v̂ + ε) + λ·p), m̂ = m / (1 − β₁³), v̂ = v / (1 − β₂³)', () => {
    const m = { data: data(6, 5), shape: [2, 3] };
    const v = { data: data(6, 6).map((x) => x * x + 0.01), shape: [2, 3] };
    const t = { data: Float64Array.of(3), shape: [] };
    const attrs = { lr: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-3, decay: 0.1 };
    const r = run('adam_step', attrs, [p, m, v, t]);
    const want = [...p.data].map((x, i) => {
      const mh = m.data[i]! / (1 - 0.8 ** 3);
      const vh = v.data[i]! / (1 - 0.95 ** 3);
      return x - 0.01 * (mh / (Math.sqrt(vh) + 1e-3) + 0.1 * x);
    });
    r.data.forEach((x, i) => expect(x).toBeCloseTo(want[i]!, 14));
    expect(r.shape).toEqual([2, 3]);
  });

  it('operands of the parameter’s shape, or scalars (the step count); another shape is refused', () => {
    expect(getOp('adam_step').infer([f32(2, 3), f32(2, 3), f32(2, 3), f32()], {})).toEqual(f32(2, 3));
    expect(() => getOp('sgd').infer([f32(2, 3), f32(3, 2)], {})).toThrow(new ShapeError('sgd: operand shapes differ'));
    expect(() => getOp('adam_m').infer([f32(2, 3), f32(2, 4)], {})).toThrow('adam_m: operand shapes differ');
  });
});

describe('the op registry', () => {
  it('an unknown op is an internal error naming it', () => {
    expect(() => getOp('nope')).toThrow('internal: unknown op `nope`');
  });

  it('flopsOf: the sum of the ops’ FLOPs, leaves none', () => {
    const a = opValue('sgd', [f32(4, 4), f32(4, 4)], { lr: 0.1 });
    const b = opValue('adam_m', [f32(8), f32(8)], { beta: 0.9 });
    const leaf = { op: 'param', inputs: [], attrs: {}, type: f32(100) } as unknown as Value;
    const each = (v: Value) => getOp(v.op).cost(v).flops;
    expect(each(a)).toBeGreaterThan(0);
    expect(flopsOf([a, leaf, b])).toBe(each(a) + each(b));
    expect(flopsOf([leaf])).toBe(0);
  });
});
