import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { scalarOf } from '../../compiler/ir/ops/elementwise.ts';

/**
 * `precision: fp8`: the linear layers' GEMMs in FP8 (E4M3 operands under delayed per-tensor scales, E5M2 gradients),
 * emulated by the CPU reference; the cost model runs them at the GPU's fp8 peak.
 */
const MLP = resolve('examples/mlp.flex');
function mlp(precision: string) {
  const src = readFileSync(MLP, 'utf8').replace(
    'bind: { B: 6 }\n  task: train { optimizer: sgd(lr: 0.1) }',
    `bind: { B: 6 }\n  task: train { optimizer: adam(lr: 0.01) }\n  precision: ${precision}`,
  );
  expect(src).toContain(`precision: ${precision}`);
  const r = compile(MLP, 'small', { read: (p) => (p === MLP ? src : readFileSync(p, 'utf8')) });
  expect(r.diagnostics).toEqual([]);
  return r;
}

/** Every value of an FP8 format, brute force: subnormals, then normals up to the largest. */
function grid(mantissa: number, emin: number, max: number): number[] {
  const vs = [0];
  for (let k = 1; k < 2 ** mantissa; k++) vs.push((k / 2 ** mantissa) * 2 ** emin);
  for (let e = emin; ; e++)
    for (let k = 0; k < 2 ** mantissa; k++) {
      const v = (1 + k / 2 ** mantissa) * 2 ** e;
      if (v > max) return vs;
      vs.push(v);
    }
}

describe('FP8', () => {
  it.each([
    ['e4m3', 3, -6, 448, 127],
    ['e5m2', 2, -14, 57344, 124],
  ] as const)(
    'fp8_%s rounds to the nearest of the format’s values (every one enumerated), saturating',
    (fmt, m, emin, max, n) => {
      const g = grid(m, emin, max);
      expect(g.length).toBe(n); // E4M3: 126 finite non-negative values and 0.. E5M2: no infinities here
      const f = scalarOf(`fp8_${fmt}`);
      let s = 7;
      for (let i = 0; i < 20000; i++) {
        s = (s * 1103515245 + 12345) % 2 ** 31;
        const x = Math.fround((i % 2 ? -1 : 1) * 2 ** ((s / 2 ** 31) * (Math.log2(max) - emin + 4) + emin - 3));
        const a = Math.abs(x);
        const near = a > max ? max : g.reduce((b, v) => (Math.abs(v - a) < Math.abs(b - a) ? v : b), 0);
        expect(f(x, 1), `${x}`).toBe(x < 0 ? -near : near);
      }
      // and with a scale: 0.1 · 8 rounds to 0.8125 (E4M3) or 0.75 (E5M2), then back
      expect(f(0.1, 8)).toBe(fmt === 'e4m3' ? 0.8125 / 8 : 0.75 / 8);
    },
  );

  it('trains an MLP with FP8 linear layers on the CPU reference: near bf16, amax states from the step before', () => {
    const fp8 = mlp('fp8');
    const m = fp8.module!;
    const matmuls = m.values.filter((v) => v.op === 'matmul');
    // the two layers' forward GEMMs and their four backward ones, every one FP8; each backward reads an E5M2 gradient
    expect(matmuls.filter((v) => v.attrs['fp8']).length).toBe(matmuls.length);
    expect(m.values.filter((v) => v.op === 'fp8_e5m2').length).toBe(2);
    expect(m.values.filter((v) => v.op === 'fp8_e4m3').length).toBe(4);
    const run = (r: ReturnType<typeof mlp>, steps: number) => {
      const cpu = new CpuSession(r.module!, { seed: 0, graphs: () => undefined as never });
      const losses = Array.from({ length: steps }, () => cpu.run().get('loss')!.data[0]!);
      return { losses, params: cpu.params };
    };
    const a = run(fp8, 20);
    const b = run(mlp('bf16'), 20);
    expect(a.losses.every(Number.isFinite)).toBe(true);
    expect(a.losses.at(-1)!).toBeLessThan(0.5 * a.losses[0]!);
    // FP8's rounding (3 mantissa bits) moves the losses a little from bf16's
    for (let i = 0; i < 20; i++) expect(Math.abs(a.losses[i]! / b.losses[i]! - 1), `step ${i + 1}`).toBeLessThan(0.1);
    expect(a.losses.some((l, i) => l !== b.losses[i])).toBe(true);
    // after a step, the weight's amax state holds what that step's weight reached (before its update)
    const one = new CpuSession(fp8.module!, { seed: 0, graphs: () => undefined as never });
    const w0 = Float32Array.from(one.params.get('linear.w')!.data);
    one.run();
    const amax = one.params.get('linear.fp8_amax.1')!.data[0]!;
    expect(amax).toBe(w0.reduce((x, v) => Math.max(x, Math.abs(v)), 0));
  });

  it('the cost model runs FP8 GEMMs at the fp8 peak: MPT-7B on H100s, matmuls in about half the time of bf16', () => {
    const file = resolve('examples/mpt.flex');
    const src = readFileSync(file, 'utf8');
    const plan = (p: string) => {
      const text = src.replace(
        'bind: { B: 6, T: 2048 }\n  task: train { optimizer: adamw(lr: 1.2e-4) }\n  precision: bf16',
        `bind: { B: 6, T: 2048 }\n  task: train { optimizer: adamw(lr: 1.2e-4) }\n  precision: ${p}`,
      );
      const r = compile(file, 'mpt7b', { read: (q) => (q === file ? text : readFileSync(q, 'utf8')) });
      expect(r.diagnostics).toEqual([]);
      return summarize(r.module!, r.lowered!).summary;
    };
    const [b16, f8] = [plan('bf16'), plan('fp8')];
    const ratio = f8.time!.by_class.matmul / b16.time!.by_class.matmul;
    // every linear layer's GEMM at twice the FLOP/s; the attention's products stay in the fused kernel
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.55);
    expect(f8.throughput!.tokens_per_second!).toBeGreaterThan(b16.throughput!.tokens_per_second!);
  }, 60_000);
});
