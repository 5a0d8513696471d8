import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { webgpuSession } from '../../compiler/cli/trainers.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import { BudgetInfeasibleError } from '../../compiler/passes/checkpoint.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import { copyModule } from '../../compiler/plan-pipeline.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';
import { sharedGpu } from '../helpers/gpu.ts';

afterAll(async () => (await sharedGpu()).device.destroy());

const POLICIES: PlanConfig['checkpoint'][] = ['none', 'all', 'sqrt', { every: 2 }];

function setup(file: string, plan: string) {
  const r = compile(file, plan);
  const cfg = r.lowered!.config;
  const graphs = graphResolver(r.program);
  const text = cfg.data ? { file: cfg.data.file, split: cfg.data.split } : undefined;
  const build = (over: Partial<PlanConfig>): Module =>
    runPipeline(copyModule(r.lowered!.forward), { config: { ...cfg, ...over } });
  const none = build({ checkpoint: 'none', memory: {} });
  const arena = (m: Module) => buildPlan(m, cfg, {}).plan.arenas.gpu;
  return { r, cfg, graphs, text, build, none, arena };
}

/**
 * Every output of `steps` CPU training steps and the parameters after them (compared with Object.is: bitwise for
 * floats).
 */
function cpuBits(m: Module, s: ReturnType<typeof setup>, steps = 2): Map<string, number[]> {
  const cpu = new CpuSession(m, { seed: 0, graphs: s.graphs, text: s.text });
  const out = new Map<string, number[]>();
  for (let k = 1; k <= steps; k++) for (const [name, t] of cpu.run()) out.set(`${name}@${k}`, Array.from(t.data));
  for (const [name, t] of cpu.params) out.set(`param ${name}`, Array.from(t.data));
  return out;
}

describe.each([
  ['examples/gpt.flex', 'tiny'],
  ['examples/gpt.flex', 'shakespeare'],
  ['examples/gcn-cora.flex', 'train'],
] as const)('checkpointing %s --plan %s', (file, plan) => {
  const s = setup(file, plan);
  const base = cpuBits(s.none, s);

  for (const policy of POLICIES)
    it(
      `checkpoint: ${JSON.stringify(policy)} gives bitwise the gradients, ` +
        `losses and updated parameters of none (CPU reference, 2 steps)`,
      () => {
        const m = s.build({ checkpoint: policy, memory: {} });
        expect(cpuBits(m, s)).toEqual(base);
      },
    );

  if (file.endsWith('gpt.flex'))
    it('selective recomputes the attention cores of composite attention: bitwise the results of none', () => {
      const composite = s.build({ checkpoint: 'none', attention: 'composite', memory: {} });
      const m = s.build({ checkpoint: 'selective', attention: 'composite', memory: {} });
      const remat = m.values.filter((v) => v.name?.endsWith('.remat'));
      expect(new Set(remat.map((v) => v.op))).toEqual(new Set(['matmul', 'mul', 'causal_mask', 'softmax']));
      // GPT tiny's peak is its logits' (the scores are 8×8); Shakespeare's, 64×64 per head, are not
      if (plan === 'shakespeare') expect(s.arena(m)).toBeLessThan(s.arena(composite));
      else expect(s.arena(m)).toBeLessThanOrEqual(s.arena(composite));
      expect(cpuBits(m, s)).toEqual(cpuBits(composite, s));
      // auto, in the bytes selective needs, recomputes no more than selective does (its greedy may find less)
      const gpu = m.checkpoint!.bytesWith;
      const auto = s.build({ checkpoint: 'auto', attention: 'composite', memory: { gpu } }).checkpoint!;
      expect(auto.bytesWith).toBeLessThanOrEqual(gpu);
      expect(auto.recomputeFlops).toBeLessThanOrEqual(m.checkpoint!.recomputeFlops);
      // fused attention keeps no scores: nothing to recompute
      expect(s.build({ checkpoint: 'selective', memory: {} }).values.filter((v) => v.name?.endsWith('.remat'))).toEqual(
        [],
      );
    });

  it('auto meets budgets between the smallest feasible and none exactly ' +
    'as the memory planner allocates, with bitwise-equal results', () => {
    const without = s.arena(s.none);
    let smallest = 0;
    try {
      s.build({ checkpoint: 'auto', memory: { gpu: 1024 } });
    } catch (e) {
      expect(e).toBeInstanceOf(BudgetInfeasibleError);
      smallest = (e as BudgetInfeasibleError).smallest;
    }
    expect(smallest).toBeGreaterThan(0);
    expect(smallest).toBeLessThanOrEqual(without);
    const fitsSmallest = s.build({ checkpoint: 'auto', memory: { gpu: smallest } });
    expect(s.arena(fitsSmallest)).toBeLessThanOrEqual(smallest);
    if (smallest > 256)
      expect(() => s.build({ checkpoint: 'auto', memory: { gpu: smallest - 256 } })).toThrow(BudgetInfeasibleError);
    for (const f of [0.25, 0.5, 0.75]) {
      const budget = Math.round(smallest + (without - smallest) * f);
      const m = s.build({ checkpoint: 'auto', memory: { gpu: budget } });
      expect(s.arena(m), `budget ${budget}`).toBeLessThanOrEqual(budget);
      expect(m.checkpoint!.bytesWith).toBe(s.arena(m));
      expect(m.checkpoint!.bytesWithout).toBe(without);
    }
    expect(cpuBits(fitsSmallest, s)).toEqual(base);
  }, 120_000);
});

describe('checkpointed plans on WebGPU', () => {
  it('gpt shakespeare with checkpoint: auto under a budget: bitwise the outputs ' +
    'of none on the same device, freed memory poisoned, kernels within the budget', async () => {
    const s = setup('examples/gpt.flex', 'shakespeare');
    const without = s.arena(s.none);
    const budget = Math.round(without * 0.6);
    const m = s.build({ checkpoint: 'auto', memory: { gpu: budget } });
    expect(m.values.some((v) => v.name?.endsWith('.remat'))).toBe(true);
    const gpu = await sharedGpu();
    const a = await webgpuSession(gpu, s.none, { ...s.cfg, memory: {} }, s.graphs, { poison: true });
    const b = await webgpuSession(gpu, m, { ...s.cfg, memory: { gpu: budget } }, s.graphs, { poison: true });
    expect(b.plan.arenas.gpu).toBeLessThanOrEqual(budget);
    expect(b.plan.predictedPeakBytes).toBeLessThan(a.plan.predictedPeakBytes);
    for (let step = 0; step < 2; step++) {
      const want = await a.run();
      const got = await b.run();
      for (const [name, w] of want) expect(Array.from(got.get(name)!), name).toEqual(Array.from(w));
    }
    // poisoned runs: no kernel read freed memory; what the kernels address stays within the budget
    for (const s of [a, b]) expect(s.measuredPeakBytes).toBeLessThanOrEqual(s.plan.arenas.gpu);
    expect(b.measuredPeakBytes).toBeLessThanOrEqual(budget);
    a.destroy();
    b.destroy();
  }, 300_000);
});
