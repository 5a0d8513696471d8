import { describe, expect, it } from 'vitest';
import { lowerValue } from '../../compiler/kernel/lower/index.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { OPS } from '../../compiler/ir/ops/registry.ts';
import { runOnGpu } from '../helpers/gpu.ts';

/**
 * Shapes past one dimension of workgroups (65,535): the kernels index a 2-D grid of workgroups, and
 * every element, the last included, must be computed once. Checked element by element against the
 * CPU reference.
 */
const ctx = { floats: (n: number) => new Float32Array(n), step: 1 };

function check(op: 'gelu' | 'softmax', shape: number[], cls: 'gpu' | 'cpu') {
  return async () => {
    const b = new Builder();
    const x = b.leaf('input', 'x', { dtype: 'f32', shape });
    const v = b.op(op, [x], op === 'softmax' ? { axis: -1 } : {});
    const k = lowerValue(v, cls);
    expect(k.dispatch[1], 'a 2-D grid of workgroups').toBeGreaterThan(1);
    const n = shape.reduce((a, d) => a * d, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.37) * 3;
    const input: NDArray = { data, shape };
    const got = await runOnGpu(v, [input], cls);
    const want = OPS.get(op)!.ref([input], v, ctx).data;
    let bad = -1;
    for (let i = 0; i < n && bad < 0; i++)
      if (!(Math.abs(got[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)))) bad = i;
    expect(bad, bad >= 0 ? `element ${bad} of ${n}: ${got[bad]} vs ${want[bad]}` : '').toBe(-1);
  };
}

describe('kernels over more than 65,535 workgroups', () => {
  // 6M elements: 2 rows of workgroups, and enough that a wrong row stride leaves elements uncomputed
  it(
    'elementwise, one invocation per element (gpu class): 6,000,000 elements',
    check('gelu', [6_000_000], 'gpu'),
    120_000,
  );
  it('rows, one workgroup per row (gpu class): 70,000 rows', check('softmax', [70_000, 4], 'gpu'), 120_000);
});
