import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { webgpuSession } from '../../compiler/cli/trainers.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { deadCodeEliminate, type Module } from '../../compiler/ir/graph.ts';
import { BudgetInfeasibleError } from '../../compiler/passes/checkpoint.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import { copyModule } from '../../compiler/plan-pipeline.ts';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { peakWithout, replay } from '../../compiler/remat/replay.ts';
import { solveResidentSets } from '../../compiler/remat/solve-resident.ts';
import { trainingGraph } from '../../compiler/remat/training-graph.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { randomDagSource } from '../helpers/random-dag.ts';

afterAll(async () => (await sharedGpu()).device.destroy());

const PATH = resolve('test/remat/random.flex');
const compileDag = (seed: number) =>
  compile(PATH, 'train', { read: (p) => (p === PATH ? randomDagSource(seed, 4, 2) : undefined) });

function graphOf(seed: number) {
  const r = compileDag(seed);
  expect(r.diagnostics).toEqual([]);
  const m = deadCodeEliminate(r.module!);
  return trainingGraph(m, m.outputs.find((o) => o.name === 'loss')!.value).graph;
}

describe('the resident-set DP', () => {
  it.each([3, 4, 5, 8, 11, 12])(
    'random layered DAG %i: its schedules replay at the peak and ' +
      'recompute it reports; below its least peak nothing fits',
    (seed) => {
      const g = graphOf(seed);
      const least = solveResidentSets(g, 'minimize');
      if (typeof least !== 'object') throw new Error(`no schedule: ${least}`);
      const full = peakWithout(g);
      expect(least.peak).toBeLessThan(full);
      expect(solveResidentSets(g, least.peak - 1)).toBeUndefined();
      for (const f of [0, 0.3, 0.6, 1]) {
        const budget = Math.round(least.peak + (full - least.peak) * f);
        const s = solveResidentSets(g, budget);
        if (typeof s !== 'object') throw new Error(`budget ${budget}: ${s}`);
        const r = replay(g, s.stages);
        expect(r.peak).toBe(s.peak);
        expect(r.recompute).toBe(s.recompute);
        expect(s.peak).toBeLessThanOrEqual(budget);
        if (f === 1) expect(s.recompute).toBe(0);
      }
    },
  );

  it(
    'gives up on steps beyond its limits (GPT: more activations ' +
      'than a state can hold), which the chain solver handles',
    () => {
      const r = compile('examples/gpt.flex', 'tiny');
      const m = deadCodeEliminate(r.module!);
      const { graph } = trainingGraph(m, m.outputs.find((o) => o.name === 'loss')!.value);
      expect(solveResidentSets(graph, 'minimize')).toBe('too-large');
    },
  );
});

describe('checkpoint: auto with the resident-set DP', () => {
  const r = compileDag(8);
  const cfg = r.lowered!.config;
  const build = (over: Partial<PlanConfig>): Module =>
    runPipeline(copyModule(r.lowered!.forward), { config: { ...cfg, ...over } });
  const arena = (m: Module) => planMemory(m).arenaBytes;
  const bits = (m: Module) => {
    const cpu = new CpuSession(m, { seed: 0, graphs: graphResolver(r.program) });
    const out = new Map<string, number[]>();
    for (let k = 1; k <= 2; k++) for (const [name, t] of cpu.run()) out.set(`${name}@${k}`, Array.from(t.data));
    for (const [name, t] of cpu.params) out.set(`param ${name}`, Array.from(t.data));
    return out;
  };

  it('meets the smallest budget it names, below every fixed policy, with bitwise the results of none', () => {
    const none = build({ checkpoint: 'none', memory: {} });
    let smallest = 0;
    try {
      build({ checkpoint: 'auto', memory: { gpu: 1024 } });
    } catch (e) {
      expect(e).toBeInstanceOf(BudgetInfeasibleError);
      smallest = (e as BudgetInfeasibleError).smallest;
    }
    expect(smallest).toBeGreaterThan(0);
    const tight = build({ checkpoint: 'auto', memory: { gpu: smallest } });
    expect(arena(tight)).toBeLessThanOrEqual(smallest);
    expect(tight.checkpoint!.solver).toBe('resident-sets');
    expect(tight.checkpoint!.bytesWith).toBe(arena(tight));
    expect(tight.values.some((v) => v.name?.endsWith('.remat'))).toBe(true);
    expect(bits(tight)).toEqual(bits(none));
    for (const k of [1, 2, 4]) expect(arena(build({ checkpoint: { every: k }, memory: {} }))).toBeGreaterThan(smallest);
  }, 120_000);

  it('on WebGPU: bitwise the outputs of none on the same ' +
    'device, freed memory poisoned, kernels within the budget', async () => {
    const none = build({ checkpoint: 'none', memory: {} });
    const budget = Math.round(arena(none) * 0.75);
    const m = build({ checkpoint: 'auto', memory: { gpu: budget } });
    expect(m.checkpoint!.solver).toBe('resident-sets');
    const gpu = await sharedGpu();
    const graphs = graphResolver(r.program);
    const a = await webgpuSession(gpu, none, { ...cfg, memory: {} }, graphs, { poison: true });
    const b = await webgpuSession(gpu, m, { ...cfg, memory: { gpu: budget } }, graphs, { poison: true });
    expect(b.plan.arenas.gpu).toBeLessThanOrEqual(budget);
    for (let step = 0; step < 2; step++) {
      const want = await a.run();
      const got = await b.run();
      for (const [name, w] of want) expect(Array.from(got.get(name)!), name).toEqual(Array.from(w));
    }
    // poisoned runs: no kernel read freed memory; what the kernels address stays within the budget
    expect(b.measuredPeakBytes).toBeLessThanOrEqual(b.plan.arenas.gpu);
    expect(b.measuredPeakBytes).toBeLessThanOrEqual(budget);
    a.destroy();
    b.destroy();
  }, 120_000);
});
