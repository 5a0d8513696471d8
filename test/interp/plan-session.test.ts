import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuPlanSession } from '../../compiler/interp/plan-session.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import { BudgetInfeasibleError } from '../../compiler/passes/checkpoint.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import { copyModule } from '../../compiler/plan-pipeline.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';
import { PlanError, type Plan } from '../../runtime/plan.ts';
import { PoisonError } from '../../runtime/poison.ts';

function setup(file: string, plan: string, over: Partial<PlanConfig> = {}) {
  const r = compile(file, plan);
  const cfg = { ...r.lowered!.config, ...over };
  const graphs = graphResolver(r.program);
  const text = cfg.data ? { file: cfg.data.file, split: cfg.data.split } : undefined;
  const m: Module = over.checkpoint ? runPipeline(copyModule(r.lowered!.forward), { config: cfg }) : r.module!;
  return { m, cfg, graphs, text, plan: buildPlan(m, cfg, {}).plan };
}

/** The smallest GPU budget `checkpoint: auto` meets for a plan (from the solver's own answer). */
function smallestBudget(file: string, plan: string): number {
  try {
    setup(file, plan, { checkpoint: 'auto', memory: { gpu: 1024 } });
  } catch (e) {
    if (e instanceof BudgetInfeasibleError) return e.smallest;
    throw e;
  }
  return 1024;
}

/** Both sessions from the same parameters: the plan's outputs and parameters vs the interpreter's, step by step. */
function compare(s: ReturnType<typeof setup>, steps: number) {
  const cpu = new CpuSession(s.m, { seed: 0, graphs: s.graphs, text: s.text });
  const arena = new CpuPlanSession(s.m, s.plan, { graphs: s.graphs, text: s.text }, true);
  arena.loadParameters(new Map([...cpu.params].map(([k, v]) => [k, v.data])));
  for (let k = 1; k <= steps; k++) {
    const want = cpu.run();
    const got = arena.run();
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [name, w] of want)
      expect(Array.from(got.get(name)!), `${name} at step ${k}`).toEqual(Array.from(w.data));
  }
  const params = arena.parameters();
  for (const [name, w] of cpu.params) expect(Array.from(params.get(name)!), name).toEqual(Array.from(w.data));
  return arena;
}

describe('a plan run on the CPU in its own arena (poisoned)', () => {
  it.each([
    ['examples/mlp.flex', 'small'],
    ['examples/gpt.flex', 'tiny'],
    ['examples/gcn-cora.flex', 'train'],
  ] as const)('%s --plan %s: bitwise the interpreter’s outputs and parameters for 2 steps', (file, plan) => {
    const s = setup(file, plan);
    const arena = compare(s, 2);
    expect(arena.measuredPeakBytes).toBeGreaterThan(0);
    expect(arena.launches).toBe(s.plan.steps.filter((st) => st.kind === 'launch').length);
    expect(arena.measuredPeakBytes).toBeLessThanOrEqual(s.plan.arenas.gpu);
  });

  it.each([
    ['examples/gpt.flex', 'shakespeare'],
    ['examples/gcn-cora.flex', 'train'],
  ] as const)(
    '%s --plan %s checkpointed at the smallest budget the solver meets: the recomputed plan reads no freed range',
    (file, plan) => {
      const budget = smallestBudget(file, plan);
      const s = setup(file, plan, { checkpoint: 'auto', memory: { gpu: budget } });
      expect(s.m.values.some((v) => v.name?.endsWith('.remat'))).toBe(true);
      const arena = compare(s, 2);
      expect(arena.measuredPeakBytes).toBeLessThanOrEqual(budget);
    },
    60_000,
  );
});

describe('the arena checks catch planted memory-planning bugs', () => {
  const s = setup('examples/mlp.flex', 'small');
  const data = { graphs: s.graphs, text: s.text };
  const reads = (p: Plan, i: number, id: number) => {
    const st = p.steps[i]!;
    return st.kind === 'launch' && st.bindings.slice(0, -1).includes(id);
  };

  /** The plan with a temporary read by two launches freed right after the first (free at first use instead of last). */
  function freedEarly(p: Plan): { plan: Plan; name: string } {
    const readers = (id: number) => p.steps.filter((_, i) => reads(p, i, id)).length;
    const target = p.buffers.find((b) => b.role === 'temp' && readers(b.id) >= 2)!;
    const first = p.steps.findIndex((_, i) => reads(p, i, target.id));
    const free = p.steps.findIndex((st) => st.kind === 'free' && st.buffer === target.id);
    const steps = p.steps.filter((_, i) => i !== free);
    steps.splice(first + 1, 0, p.steps[free]!);
    return { plan: { ...p, steps }, name: target.name };
  }

  it('a buffer freed before its last reader fails the step, naming the buffer (poisoned or not)', () => {
    const bug = freedEarly(s.plan);
    expect(() => new CpuPlanSession(s.m, bug.plan, data, true).run()).toThrow(PoisonError);
    expect(() => new CpuPlanSession(s.m, bug.plan, data, true).run()).toThrow(`(${bug.name}), freed at step`);
    expect(() => new CpuPlanSession(s.m, bug.plan, data, false).run()).toThrow(PlanError);
    expect(() => new CpuPlanSession(s.m, s.plan, data, true).run()).not.toThrow();
  });

  it('a temporary placed over a live buffer fails the step, naming both', () => {
    const temps = s.plan.buffers.filter((b) => b.role === 'temp');
    // the second temporary moved onto the first: both are live while the first is read
    const [a, b] = [temps[0]!, temps[1]!];
    const moved = s.plan.buffers.map((x) => (x.id === b.id ? { ...x, offset: a.offset } : x));
    const bug = { ...s.plan, buffers: moved };
    expect(() => new CpuPlanSession(s.m, bug, data, false).run()).toThrow(/overlaps live buffer/);
  });

  it('a parameter range reused by a temporary is caught as an overlap', () => {
    const param = s.plan.buffers.find((b) => b.role === 'param')!;
    const temp = s.plan.buffers.find((b) => b.role === 'temp')!;
    const moved = s.plan.buffers.map((x) => (x.id === temp.id ? { ...x, offset: param.offset } : x));
    expect(() => new CpuPlanSession(s.m, { ...s.plan, buffers: moved }, data, false).run()).toThrow(
      new RegExp(`overlaps live buffer ${param.id} \\(${param.name}`),
    );
  });

  it('a launch that names no value of the module is refused', () => {
    const steps = s.plan.steps.map((st) =>
      st.kind === 'launch' && !st.value.startsWith('update') ? { ...st, value: '%99999 add' } : st,
    );
    expect(() => new CpuPlanSession(s.m, { ...s.plan, steps }, data).run()).toThrow(/names no value/);
  });
});
