import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { webgpuSession } from '../../compiler/cli/trainers.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { parsePlan, PlanError } from '../../runtime/plan.ts';
import { PoisonError } from '../../runtime/poison.ts';
import { WebGpuSession, BudgetError } from '../../runtime/webgpu/session.ts';
import { relErr } from '../helpers/oracle.ts';
import { sharedGpu } from '../helpers/gpu.ts';

afterAll(async () => (await sharedGpu()).device.destroy());

describe.each([
  ['examples/mlp.flex', 'small', 'cpu'],
  ['examples/gpt.flex', 'tiny', 'cpu'],
  ['examples/gcn-cora.flex', 'train', 'cpu'],
  ['examples/gpt.flex', 'shakespeare', 'cpu'],
  ['examples/mlp.flex', 'small', 'gpu'],
  ['examples/gpt.flex', 'tiny', 'gpu'],
  ['examples/gcn-cora.flex', 'train', 'gpu'],
] as const)('%s --plan %s on WebGPU with %s-class kernels', (file, plan, deviceClass) => {
  it('matches the CPU reference for 3 training steps: loss and ' +
    'every gradient (1e-4), freed memory poisoned, kernels within the arena', async () => {
    const r = compile(file, plan);
    const graphs = graphResolver(r.program);
    const cfg = r.lowered!.config;
    const cpu = new CpuSession(r.module!, {
      seed: 0,
      graphs,
      text: cfg.data ? { file: cfg.data.file, split: cfg.data.split } : undefined,
    });
    const gpu = await webgpuSession(await sharedGpu(), r.module!, r.lowered!.config, graphs, {
      deviceClass,
      poison: true,
    });
    expect(gpu.plan.deviceClass).toBe(deviceClass);
    // Adam turns a numerically-zero gradient (attention's key bias) into ±lr noise: leave those elements out.
    const noise = new Map<string, Set<number>>();
    for (let step = 1; step <= 3; step++) {
      const want = cpu.run();
      const got = await gpu.run();
      expect(got.size).toBe(want.size);
      for (const [name, w] of want) {
        expect(relErr(got.get(name)!, w.data), `${name} at step ${step}`).toBeLessThan(1e-4);
        if (!name.startsWith('grad:')) continue;
        const scale = Array.from(w.data).reduce((a, x) => Math.max(a, Math.abs(x)), 0);
        const set = noise.get(name.slice(5)) ?? new Set<number>();
        w.data.forEach((x, i) => Math.abs(x) <= 1e-6 * scale && set.add(i));
        noise.set(name.slice(5), set);
      }
    }
    const params = await gpu.parameters();
    const keep = (name: string, a: ArrayLike<number>) =>
      Array.from(a).filter((_, i) => !noise.get(name.replace(/\.adam_[mv]$/, ''))?.has(i));
    for (const [name, w] of cpu.params)
      expect(relErr(keep(name, params.get(name)!), keep(name, w.data)), `${name} after 3 steps`).toBeLessThan(1e-4);
    // freed ranges were poisoned throughout (a read of one fails the step); the kernels address no
    // more than the arena the plan allocates
    expect(gpu.poison).toBe(true);
    expect(gpu.measuredPeakBytes).toBeGreaterThan(0);
    expect(gpu.measuredPeakBytes).toBeLessThanOrEqual(gpu.plan.arenas.gpu);
    gpu.destroy();
  }, 300_000);
});

describe('execution plans', () => {
  const r = compile('examples/mlp.flex', 'small');
  const built = buildPlan(r.module!, r.lowered!.config, {});
  const json = () => JSON.parse(JSON.stringify(built.plan)) as Record<string, unknown>;

  it('a built plan validates, and its buffers fit the arena without overlapping while live', () => {
    const plan = parsePlan(json());
    const live = new Map<number, [number, number]>();
    for (const st of plan.steps) {
      if (st.kind === 'alloc') {
        const b = plan.buffers[st.buffer]!;
        const span: [number, number] = [b.offset, b.offset + Math.max(4, b.bytes)];
        for (const [id, [lo, hi]] of live)
          expect(span[1] <= lo || span[0] >= hi, `buffers ${id} and ${b.id} overlap`).toBe(true);
        live.set(b.id, span);
      } else if (st.kind === 'free') live.delete(st.buffer);
    }
    expect(plan.predictedPeakBytes).toBeLessThanOrEqual(plan.arenas.gpu);
  });

  it('rejects a malformed or tampered plan with a clear error', () => {
    const bad1 = json();
    (bad1['buffers'] as { offset: number }[])[0]!.offset = 3;
    expect(() => parsePlan(bad1)).toThrow(PlanError);
    expect(() => parsePlan(bad1)).toThrow(/offset 3, not a multiple of 256/);
    const bad2 = json();
    (bad2['steps'] as { kind: string; kernel?: string }[]).find((s) => s.kind === 'launch')!.kernel = 'evil';
    expect(() => parsePlan(bad2)).toThrow(/kernel evil, which the plan does not declare/);
    expect(() => parsePlan({ ...json(), version: 1 })).toThrow(/version/);
    expect(() => parsePlan({ ...json(), arenas: { gpu: 16 } })).toThrow(/ends past the 16-byte gpu arena/);
  });

  it('the runtime refuses a plan whose arena exceeds its budget, naming both numbers', async () => {
    const plan = parsePlan(json());
    await expect(
      WebGpuSession.create(await sharedGpu(), plan, (k) => built.sources.get(k)!, { budgetBytes: 1024 }),
    ).rejects.toThrow(BudgetError);
    await expect(
      WebGpuSession.create(await sharedGpu(), plan, (k) => built.sources.get(k)!, { budgetBytes: 1024 }),
    ).rejects.toThrow(new RegExp(`needs ${plan.arenas.gpu} bytes, more than the 1024-byte budget`));
  });

  it('poison mode catches a liveness bug: a buffer freed after its first reader, though another reads it', async () => {
    const plan = parsePlan(json());
    const steps = plan.steps;
    const reads = (i: number, id: number) => {
      const s = steps[i]!;
      return s.kind === 'launch' && s.bindings.slice(0, -1).includes(id);
    };
    // a temporary read by two launches, the second an arithmetic op that carries a NaN to its result
    // (a comparison such as relu's gradient would mask it): move its free to right after the first
    const readers = (id: number) => steps.flatMap((s, i) => (reads(i, id) ? [s] : []));
    const arithmetic = /(matmul|add|mul|sub)$/;
    const target = plan.buffers.find((b) => {
      const r = readers(b.id);
      return (
        b.role === 'temp' && r.length >= 2 && r.slice(1).some((s) => s.kind === 'launch' && arithmetic.test(s.value))
      );
    })!;
    const first = steps.findIndex((_, i) => reads(i, target.id));
    const free = steps.findIndex((s) => s.kind === 'free' && s.buffer === target.id);
    const planted = [...steps.slice(0, free), ...steps.slice(free + 1)];
    planted.splice(first + 1, 0, steps[free]!);
    const bug = { ...plan, steps: planted };
    const healthy = await WebGpuSession.create(await sharedGpu(), plan, (k) => built.sources.get(k)!, { poison: true });
    await healthy.run();
    healthy.destroy();
    const s = await WebGpuSession.create(await sharedGpu(), bug, (k) => built.sources.get(k)!, { poison: true });
    await expect(s.run()).rejects.toThrow(PoisonError);
    s.destroy();
    // without poison the same bug goes unnoticed on this device: the freed bytes still hold the value
    const quiet = await WebGpuSession.create(await sharedGpu(), bug, (k) => built.sources.get(k)!, { poison: false });
    await expect(quiet.run()).resolves.toBeDefined();
    quiet.destroy();
  });

  it('is deterministic: two builds give the same plan and kernels', () => {
    const again = buildPlan(compile('examples/mlp.flex', 'small').module!, r.lowered!.config, {});
    expect(JSON.stringify(again.plan)).toBe(JSON.stringify(built.plan));
    expect([...again.sources]).toEqual([...built.sources]);
  });
});
