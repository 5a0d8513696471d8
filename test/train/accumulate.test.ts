import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { webgpuSession } from '../../compiler/cli/trainers.ts';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { compile } from '../../compiler/compile.ts';
import { memoryTimeline } from '../../compiler/cost/memory.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { stateLayout } from '../../compiler/cost/state-layout.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { runModule } from '../../compiler/interp/interpret.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import { elems, type NDArray } from '../../compiler/ir/op.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { relErr } from '../helpers/oracle.ts';

afterAll(async () => (await sharedGpu()).device.destroy());

/**
 * Gradient accumulation (`batch: { global, micro }`): k runs of the step, each one micro-batch, train the
 * parameters one step over the whole global batch would (the big batch's rows, the micro-batches in order).
 */
const FILE = resolve('test/train/fixtures/accumulate.flex');
const built = (plan: string, src?: string) => {
  const r = compile(FILE, plan, src ? { read: (p) => (p === FILE ? src : readFileSync(p, 'utf8')) } : {});
  return r;
};
const ok = (plan: string) => {
  const r = built(plan);
  expect(r.diagnostics).toEqual([]);
  return r;
};

/** A global batch of 8 rows × 12 features, and classes, fixed by a seed. */
function globalBatch(optStep: number) {
  let s = 99 + optStep;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31);
  return {
    x: { data: Float32Array.from({ length: 8 * 12 }, () => 2 * next() - 1), shape: [8, 12] },
    y: { data: Int32Array.from({ length: 8 }, () => Math.floor(next() * 5)), shape: [8] },
  };
}
const rows = (t: NDArray, from: number, n: number): NDArray => {
  const w = t.shape.slice(1).reduce((a, d) => a * d, 1);
  return { data: t.data.slice(from * w, (from + n) * w) as NDArray['data'], shape: [n, ...t.shape.slice(1)] };
};

/** Trains `steps` optimizer steps on the CPU reference, feeding each run its rows of the global batches. */
function cpuTrain(m: Module, micro: number, steps: number) {
  const cpu = new CpuSession(m, { seed: 0, graphs: () => undefined as never });
  const k = 8 / micro;
  for (let s = 1; s <= steps; s++) {
    const { x, y } = globalBatch(s);
    for (let i = 0; i < k; i++) {
      cpu.step++;
      const feeds = cpu.feeds(m, cpu.step);
      feeds.set('x', rows(x, i * micro, micro));
      feeds.set('y', rows(y, i * micro, micro));
      runModule(m, feeds, cpu.params, { step: cpu.step });
    }
  }
  return new Map([...cpu.params].filter(([name]) => !name.includes('.grad_acc')));
}

const trained = (p: Map<string, NDArray>) => new Map([...p].filter(([n]) => !n.includes('adam') && !n.includes('acc')));

describe('gradient accumulation: batch { global, micro }', () => {
  it.each([
    ['micro', 'whole', 2],
    ['micro_sgd', 'whole_sgd', 4],
  ] as const)(
    '%s: k runs of micro-batches train what one step over the global batch does (CPU reference, 3 steps, ≤ 1e-5)',
    (accum, whole, micro) => {
      const a = cpuTrain(ok(accum).module!, micro, 3);
      const w = cpuTrain(ok(whole).module!, 8, 3);
      expect([...a.keys()].sort()).toEqual([...w.keys()].sort());
      for (const [name, t] of w) expect(relErr(a.get(name)!.data, t.data), name).toBeLessThan(1e-5);
      // and the parameters moved: the comparison is not of two initial states
      const init = new CpuSession(ok(whole).module!, { seed: 0, graphs: () => undefined as never }).params;
      for (const [name, t] of trained(w)) expect(relErr(init.get(name)!.data, t.data), name).toBeGreaterThan(1e-3);
    },
  );

  it('between optimizer steps the parameters and moments stay; the fp32 sums hold the gradients so far', () => {
    const m = ok('micro').module!;
    const cpu = new CpuSession(m, { seed: 0, graphs: () => undefined as never });
    const before = new Map([...cpu.params].map(([n, t]) => [n, Float32Array.from(t.data)]));
    for (let i = 0; i < 3; i++) cpu.run();
    for (const [n, t] of cpu.params)
      if (n.endsWith('.grad_acc'))
        expect(
          t.data.some((x) => x !== 0),
          n,
        ).toBe(true);
      else expect(Array.from(t.data), n).toEqual(Array.from(before.get(n)!));
    cpu.run(); // the fourth micro-batch: the update lands and the sums are cleared
    for (const [n, t] of cpu.params)
      if (n.endsWith('.grad_acc'))
        expect(
          t.data.every((x) => x === 0),
          n,
        ).toBe(true);
      else if (!n.includes('adam')) expect(relErr(t.data, before.get(n)!), n).toBeGreaterThan(1e-4);
  });

  it('on WebGPU: the same parameters as the CPU reference after 2 optimizer steps (inputs given per run)', async () => {
    const r = ok('micro');
    const gpu = await sharedGpu();
    const s = await webgpuSession(gpu, r.module!, r.lowered!.config, graphResolver(r.program), { deviceClass: 'cpu' });
    for (let step = 1; step <= 2; step++) {
      const { x, y } = globalBatch(step);
      for (let i = 0; i < 4; i++)
        await s.run(
          [],
          new Map<string, Float32Array | Int32Array>([
            ['x', rows(x, 2 * i, 2).data as Float32Array],
            ['y', rows(y, 2 * i, 2).data as Int32Array],
          ]),
        );
    }
    const got = await s.parameters();
    s.destroy();
    const want = cpuTrain(r.module!, 2, 2);
    for (const [name, t] of want) expect(relErr(got.get(name)!, t.data), name).toBeLessThan(1e-5);
  });

  it("memory: one micro-batch's activations, the fp32 sums counted as gradients (bf16: 18 bytes a parameter)", () => {
    const acts = (plan: string) => memoryTimeline(ok(plan).module!, ok(plan).lowered!.config).gpu.at_peak;
    expect(planMemory(ok('micro').module!).arenaBytes).toBeLessThan(planMemory(ok('whole').module!).arenaBytes * 2);
    const micro = memoryTimeline(ok('micro_bf16').module!, ok('micro_bf16').lowered!.config);
    const params = ok('micro_bf16')
      .module!.values.filter((v) => v.op === 'param')
      .reduce((a, v) => a + elems(v.type), 0);
    // bf16 weights 2, fp32 sums 4 (a micro-batch's bf16 gradient only passes through), master 4, moments 8
    expect(micro.gpu.model_states_bytes / params).toBe(18);
    expect(stateLayout(ok('micro_bf16').module!)).toEqual({
      weights: 2,
      gradients: 4,
      master: 4,
      optimizer: 8,
      total: 18,
      accumulated: true,
    });
    // without accumulation: ZeRO's 16 (the bf16 gradient), and 16 in fp32 (4 + 4 + 8)
    const bf16 = built(
      'micro_bf16',
      readFileSync(FILE, 'utf8').replace(
        'batch: { global: 8, micro: 2 }\n  task: train { optimizer: adamw',
        'bind: { B: 8 }\n  task: train { optimizer: adamw',
      ),
    );
    expect(bf16.diagnostics).toEqual([]);
    expect(stateLayout(bf16.module!)).toMatchObject({ weights: 2, gradients: 2, master: 4, optimizer: 8, total: 16 });
    expect(stateLayout(ok('whole').module!)).toMatchObject({ weights: 4, gradients: 4, master: 0, total: 16 });
    expect(acts('micro').activations).toBeLessThan(acts('whole').activations);
  });

  it('malformed: a micro-batch that does not divide the global one, B bound elsewhere, an inference plan', () => {
    const src = readFileSync(FILE, 'utf8');
    const cases: [string, string, RegExp][] = [
      ['batch: { global: 8, micro: 4 }', 'batch: { global: 8, micro: 3 }', /does not divide the global/],
      ['batch: { global: 8, micro: 4 }', 'batch: { global: 8, micro: 4 }\n  bind: { B: 2 }', /sets B to 2/],
      ['batch: { global: 8, micro: 4 }', 'batch: { global: 8 }', /names both sizes/],
      ['batch: { global: 8, micro: 4 }', 'batch: { global: 8, mirco: 4 }', /no `mirco`/],
    ];
    for (const [from, to, want] of cases) {
      const r = built('micro_sgd', src.replace(from, to));
      expect(r.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'), to).toMatch(want);
      expect(r.diagnostics[0]!.code).toBe('FLX5007');
    }
    const infer = built(
      'micro_sgd',
      src.replace('micro: 4 }\n  task: train { optimizer: sgd(lr: 0.1) }', 'micro: 4 }\n  task: infer'),
    );
    expect(infer.diagnostics.map((d) => d.message).join('\n')).toMatch(/is for a train plan/);
  });
});

describe('gradient accumulation in the cost model', () => {
  it('Llama 2 7B ZeRO-2: four micro-batches cost four forward and backward passes and one update', () => {
    const file = resolve('examples/llama2-7b.flex');
    const src = readFileSync(file, 'utf8');
    const plan = (batch: string) => {
      const text = src.replace('  bind: { B: 1, T: 4096 }', `  ${batch}`);
      expect(text).toContain(batch);
      const r = compile(file, 'pretrain_zero2', { read: (p) => (p === file ? text : readFileSync(p, 'utf8')) });
      expect(r.diagnostics).toEqual([]);
      return summarize(r.module!, r.lowered!).summary;
    };
    const one = plan('bind: { B: 1, T: 4096 }');
    const four = plan('batch: { global: 32, micro: 1 }\n  bind: { T: 4096 }');
    const [t1, t4] = [one.time!, four.time!];
    for (const pass of ['forward_seconds', 'recompute_seconds'] as const)
      expect(t4[pass] / t1[pass], pass).toBeCloseTo(4, 2);
    // the backward adds each micro-batch's gradient shard (1/8 under ZeRO-2) to the fp32 sums: 2% more here
    expect(t4.backward_seconds / t1.backward_seconds).toBeGreaterThan(4);
    expect(t4.backward_seconds / t1.backward_seconds).toBeLessThan(4.2);
    // the update once a step: the optimizer's time grows by the blends of the rank's shard of each updated leaf
    // (weights, moments, master and the fp32 sums: elementwise, each under one Adam update's traffic)
    expect(t4.optimizer_seconds / t1.optimizer_seconds).toBeGreaterThan(1);
    expect(t4.optimizer_seconds / t1.optimizer_seconds).toBeLessThan(2);
    // tokens per step four times one's, in less than four times the time
    const tokensPerStep = (x: typeof one) => x.throughput!.tokens_per_second! * x.time!.step_seconds;
    expect(tokensPerStep(four) / tokensPerStep(one)).toBeCloseTo(4, 6);
    // the updated parameters' all-gather once a step: a step of four moves less than four steps of one
    expect(t4.step_seconds).toBeLessThan(4 * t1.step_seconds);
    expect(four.throughput!.tokens_per_second!).toBeGreaterThan(one.throughput!.tokens_per_second!);
    // memory: one micro-batch's activations; the gradients are the fp32 sums (18 B a parameter)
    // (a step of eight micro-batches peaks where one of four does)
    expect(plan('batch: { global: 64, micro: 1 }\n  bind: { T: 4096 }').memory.gpu.peak_bytes).toBe(
      four.memory.gpu.peak_bytes,
    );
    expect(four.state_bytes_per_parameter).toMatchObject({ total: 18, gradients: 4, accumulated: true });
    expect(one.state_bytes_per_parameter).toMatchObject({ total: 16, gradients: 2, accumulated: false });
  }, 60_000);
});
