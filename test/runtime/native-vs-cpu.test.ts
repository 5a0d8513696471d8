import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { nativeSession } from '../../compiler/cli/trainers.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import { relErr } from '../helpers/oracle.ts';

/** Whether an element's gradient is numerical noise: Adam turns such a gradient into an update of ±lr·(noise). */
const noiseOf = (g: ArrayLike<number>) => {
  const scale = Array.from(g).reduce((a, x) => Math.max(a, Math.abs(x)), 0);
  return new Set(Array.from(g).flatMap((x, i) => (Math.abs(x) <= 1e-6 * scale ? [i] : [])));
};

/** Target `c`: the kernels rendered to C, compiled by gcc with OpenMP, run through the host library's C ABI. */
describe.each([
  ['examples/mlp.flex', 'small'],
  ['examples/gpt.flex', 'tiny'],
  ['examples/gcn-cora.flex', 'train'],
  ['examples/sage-cora.flex', 'train'],
  ['examples/gat-cora.flex', 'train'],
  ['examples/gpt.flex', 'shakespeare'],
] as const)('%s --plan %s natively (target c)', (file, plan) => {
  const open = () => {
    const r = compile(file, plan);
    const graphs = graphResolver(r.program);
    const cfg = r.lowered!.config;
    const cpu = new CpuSession(r.module!, {
      seed: 0,
      graphs,
      text: cfg.data ? { file: cfg.data.file, split: cfg.data.split } : undefined,
    });
    const native = nativeSession(TARGETS.c, r.module!, cfg, graphs, { poison: true });
    return { cpu, native };
  };

  it('3 steps, each from the reference’s parameters: loss, every gradient and every updated parameter match ' +
    'the CPU reference (1e-5), freed memory poisoned, kernels within the arena', async () => {
    const { cpu, native } = open();
    expect(native.plan.target).toBe('c');
    for (let step = 1; step <= 3; step++) {
      native.loadParameters(new Map([...cpu.params].map(([k, v]) => [k, v.data])));
      const want = cpu.run();
      const got = await native.run();
      expect(got.size).toBe(want.size);
      for (const [name, w] of want)
        expect(relErr(got.get(name)!, w.data), `${name} at step ${step}`).toBeLessThan(1e-5);
      const params = await native.parameters();
      for (const [name, w] of cpu.params) {
        const g = want.get(`grad:${name.replace(/\.adam_[mv]$/, '')}`);
        const noise = g ? noiseOf(g.data) : new Set<number>();
        const keep = (a: ArrayLike<number>) => Array.from(a).filter((_, i) => !noise.has(i));
        expect(relErr(keep(params.get(name)!), keep(w.data)), `${name} after step ${step}`).toBeLessThan(1e-5);
      }
    }
    expect(native.measuredPeakBytes).toBeGreaterThan(0);
    expect(native.measuredPeakBytes).toBeLessThanOrEqual(native.plan.arenas.gpu);
    native.destroy();
  }, 300_000);

  it('3 steps on its own: loss and every gradient within 1e-4 of the reference (f32 rounding compounds through ' +
    'Adam: a gradient of 1e-6 of its tensor’s largest moves its weight by ±lr)', async () => {
    const { cpu, native } = open();
    for (let step = 1; step <= 3; step++) {
      const want = cpu.run();
      const got = await native.run();
      for (const [name, w] of want)
        expect(relErr(got.get(name)!, w.data), `${name} at step ${step}`).toBeLessThan(1e-4);
    }
    native.destroy();
  }, 300_000);
});

describe('native kernels given a label outside the classes', () => {
  it('read in bounds and make the loss and its gradients NaN (the CPU reference reports the index)', async () => {
    const r = compile('examples/mlp.flex', 'small');
    const graphs = graphResolver(r.program);
    const native = nativeSession(TARGETS.c, r.module!, r.lowered!.config, graphs);
    const y = native.plan.buffers[native.plan.inputs.find((i) => i.name === 'y')!.buffer]!;
    const labels = new Int32Array(y.shape.reduce((a, d) => a * d, 1)).fill(1);
    labels[0] = 1 << 30;
    labels[1] = -1;
    const x = new Float32Array(native.plan.buffers[native.plan.inputs.find((i) => i.name === 'x')!.buffer]!.bytes / 4);
    const out = await native.run(
      undefined,
      new Map<string, Float32Array | Int32Array>([
        ['x', x],
        ['y', labels],
      ]),
    );
    expect(out.get('loss')![0]).toBeNaN();
    native.destroy();
  });
});

describe('flexc run --backend native', () => {
  it('trains GCN on Cora (200 epochs) to at least 0.80 test accuracy', () => {
    const out = execFileSync(
      process.execPath,
      ['bin/flexc.mjs', 'run', 'examples/gcn-cora.flex', '--backend', 'native', '--json'],
      { encoding: 'utf8' },
    );
    const { metrics } = JSON.parse(out) as { metrics: Record<string, number> };
    expect(metrics['test_accuracy']).toBeGreaterThanOrEqual(0.8);
  }, 300_000);
});
