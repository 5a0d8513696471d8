import { describe, expect, it } from 'vitest';
import { nativeSession } from '../../compiler/cli/trainers.ts';
import { runModule } from '../../compiler/interp/interpret.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import { lowerValue } from '../../compiler/kernel/lower/index.ts';
import { blasFlags } from '../../compiler/targets/c.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import { planConfig } from '../helpers/plan-config.ts';
import { relErr } from '../helpers/oracle.ts';

const hasBlas = blasFlags().length > 0;
if (!hasBlas)
  console.warn('NOTICE: no BLAS (cblas.h and libopenblas or libcblas) found; the BLAS-path tests are skipped');

/** A · B with both as parameters (A batched, B broadcast over the batch when `batch` is set). */
function product(m: number, n: number, k: number, ta: boolean, tb: boolean, batch: number[] = []): Module {
  const b = new Builder();
  const a = b.leaf(
    'param',
    'a',
    { dtype: 'f32', shape: [...batch, ...(ta ? [k, m] : [m, k])] },
    { init: 'normal', std: 1 },
  );
  const w = b.leaf('param', 'b', { dtype: 'f32', shape: tb ? [n, k] : [k, n] }, { init: 'normal', std: 1 });
  const c = b.op('matmul', [a, w], { ta, tb });
  return { name: 'product', values: b.values, outputs: [{ name: 'c', value: c }], updates: [] };
}

describe.skipIf(!hasBlas)('target c with a BLAS: large matmuls call cblas_sgemm, outside the teams of threads', () => {
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const)
    it(`ta=${ta} tb=${tb}, a batch of 3 with B broadcast: equal to the CPU reference (1e-5)`, async () => {
      const m = product(130, 150, 140, ta, tb, [3]);
      expect(lowerValue(m.outputs[0]!.value, 'cpu').library?.routine).toBe('sgemm');
      const cfg = planConfig({ task: { kind: 'infer' } });
      const s = nativeSession(TARGETS.c, m, cfg, () => ({}) as never);
      const got = (await s.run()).get('c')!;
      const cpu = new CpuSession(m, { seed: 0, graphs: () => ({}) as never });
      const want = runModule(m, new Map(), cpu.params, { precision: 'f32', step: 1 }).outputs.get('c')!;
      expect(relErr(got, want.data)).toBeLessThan(1e-5);
      s.destroy();
    });

  it('small products stay generated code (a library call costs more than it saves)', () => {
    expect(lowerValue(product(64, 64, 64, false, false).outputs[0]!.value, 'cpu').library).toBeUndefined();
  });
});
