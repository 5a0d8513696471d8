import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { memoryTimeline } from '../../compiler/cost/memory.ts';
import { deadCodeEliminate, type Module } from '../../compiler/ir/graph.ts';
import { flopsOf } from '../../compiler/ir/ops/registry.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import { printModule } from '../../compiler/ir/printer.ts';
import { differentiate } from '../../compiler/passes/autodiff.ts';
import { BudgetInfeasibleError, checkpointModule } from '../../compiler/passes/checkpoint.ts';
import { recomputeCost } from '../../compiler/remat/cost.ts';
import { REMAT_SUFFIX } from '../../compiler/remat/emit.ts';
import { planConfig, trainTask } from '../helpers/plan-config.ts';

/**
 * The checkpoint pass's decisions and what it reports about them, on GPT tiny's training step (the golden tests pin
 * the rewritten IR; these pin the policy each setting selects, the bytes it measures, and the budget errors).
 */
const step = parseModule(readFileSync('test/passes/checkpoint/gpt-tiny-all.in.ir', 'utf8'));
const config = (over: Record<string, unknown> = {}) => planConfig({ task: trainTask('adam', 1e-3), ...over });
const arena = (m: Module) => planMemory(deadCodeEliminate(m)).arenaBytes;
const remat = (m: Module) => m.values.filter((v) => v.name?.endsWith(REMAT_SUFFIX));
const run = (over: Record<string, unknown>) => checkpointModule(step, config(over));
const without = arena(step);

function budgetError(f: () => unknown): BudgetInfeasibleError {
  try {
    f();
  } catch (e) {
    if (e instanceof BudgetInfeasibleError) return e;
    throw e;
  }
  throw new Error('no BudgetInfeasibleError');
}

describe('checkpoint pass: the policy each setting selects', () => {
  it('none keeps the module and reports its arena', () => {
    const r = run({ checkpoint: 'none' });
    expect(r.module).toBe(step);
    expect(r.report).toEqual({
      policy: 'none',
      stages: expect.any(Number),
      measured: 'arena',
      bytesWithout: without,
      bytesWith: without,
      recomputeFlops: 0,
      stepFlops: flopsOf(step.values),
    });
    expect(r.report!.stages).toBeGreaterThan(4);
  });

  it('all, sqrt and every(k) build what they name, and report exactly what they built', () => {
    const stages = run({ checkpoint: 'none' }).report!.stages;
    const runs = {
      all: run({ checkpoint: 'all' }),
      sqrt: run({ checkpoint: 'sqrt' }),
      'every(2)': run({ checkpoint: { every: 2 } }),
      [`every(${stages})`]: run({ checkpoint: { every: stages } }),
    };
    for (const [policy, r] of Object.entries(runs)) {
      expect(r.report!.policy).toBe(policy);
      expect(r.report!.bytesWith, policy).toBe(arena(r.module));
      expect(r.report!.bytesWithout).toBe(without);
      expect(r.report!.recomputeFlops, policy).toBe(flopsOf(remat(r.module)));
      expect(r.report!.solver).toBeUndefined();
    }
    // every(n) keeps every stage: nothing to recompute
    expect(runs[`every(${stages})`]!.report!.recomputeFlops).toBe(0);
    expect(runs.all.report!.recomputeFlops).toBeGreaterThan(0);
    // sqrt is every(k) with k the rounded square root of the stages (7 here: k = 3), not every(1)
    const k = Math.round(Math.sqrt(stages));
    expect(k).toBe(3);
    expect(printModule(runs.sqrt.module)).toBe(printModule(run({ checkpoint: { every: k } }).module));
    expect(printModule(runs.sqrt.module)).not.toBe(printModule(runs.all.module));
  });

  it('auto without a budget, or with one the step already meets (to the byte), keeps the module', () => {
    for (const memory of [{}, { gpu: without }, { gpu: without + 1 }]) {
      const r = run({ checkpoint: 'auto', memory });
      expect(r.module, JSON.stringify(memory)).toBe(step);
      expect(r.report).toMatchObject({ policy: 'auto', bytesWith: without });
      expect(r.report!.solver).toBeUndefined();
    }
  });
});

/** A random 15-stage DAG (test/remat/random.flex) whose activations dominate its arena, unlike GPT tiny's. */
describe('checkpoint pass: auto under budgets', () => {
  const dag = parseModule(readFileSync('test/passes/checkpoint/random-dag-auto.in.ir', 'utf8'));
  const on = (over: Record<string, unknown>) => checkpointModule(dag, config(over));
  const dagWithout = arena(dag);
  const costOf = (m: Module) => remat(deadCodeEliminate(m)).reduce((a, v) => a + recomputeCost(v), 0);
  const stages = on({ checkpoint: 'none' }).report!.stages;
  const every = Array.from({ length: stages }, (_, i) => on({ checkpoint: { every: i + 1 } }));

  it(
    'at every budget from none down to the least it meets: within the budget, and never costlier than any ' +
      'every(k) that fits',
    () => {
      const least = budgetError(() => on({ checkpoint: 'auto', memory: { gpu: 1024 } })).smallest;
      expect(least).toBeLessThan(Math.min(...every.map((r) => r.report!.bytesWith)));
      // a grid from none down, and just above the least (where the solvers missed a schedule they had built)
      const budgets = [least, least + 848, least + 2048];
      for (let b = dagWithout - 1; b > least + 2048; b -= 4096) budgets.push(b);
      for (const budget of budgets) {
        const auto = on({ checkpoint: 'auto', memory: { gpu: budget } });
        expect(auto.report!.bytesWith, `budget ${budget}`).toBeLessThanOrEqual(budget);
        expect(auto.report!.bytesWith).toBe(arena(auto.module));
        expect(auto.report!.recomputeFlops).toBe(flopsOf(remat(auto.module)));
        expect(['chain', 'resident-sets', 'greedy']).toContain(auto.report!.solver);
        for (const [k, r] of every.entries())
          if (r.report!.bytesWith <= budget)
            expect(costOf(auto.module), `budget ${budget}, every(${k + 1})`).toBeLessThanOrEqual(costOf(r.module));
      }
    },
  );

  it('a budget no schedule meets is an error naming the smallest that works, which auto then meets', () => {
    const e = budgetError(() => on({ checkpoint: 'auto', memory: { gpu: 1024 } }));
    expect(e).toMatchObject({ budget: 1024, needed: dagWithout, policy: 'auto' });
    expect(e.message).toBe(
      `the training step needs ${dagWithout} bytes with checkpoint: auto, more than the 1024-byte GPU budget; ` +
        `the smallest budget that works is ${e.smallest} bytes`,
    );
    expect(on({ checkpoint: 'auto', memory: { gpu: e.smallest } }).report!.bytesWith).toBeLessThanOrEqual(e.smallest);
    // and the least: a byte less, the same error
    expect(budgetError(() => on({ checkpoint: 'auto', memory: { gpu: e.smallest - 1 } })).smallest).toBe(e.smallest);
  });

  it('a fixed policy over its budget says what it needs and what auto would need', () => {
    const none = budgetError(() => on({ checkpoint: 'none', memory: { gpu: dagWithout - 1 } }));
    expect(none).toMatchObject({ needed: dagWithout, policy: 'none', budget: dagWithout - 1 });
    expect(none.autoFits).toBe(on({ checkpoint: 'auto', memory: { gpu: dagWithout - 1 } }).report!.bytesWith);
    expect(none.smallest).toBeLessThan(dagWithout);

    const every2 = every[1]!.report!.bytesWith;
    const e = budgetError(() => on({ checkpoint: { every: 2 }, memory: { gpu: every2 - 1 } }));
    expect(e).toMatchObject({ needed: every2, policy: 'every(2)', budget: every2 - 1 });
    expect(e.message).toContain('with checkpoint: every(2)');
    expect(e.autoFits).toBeLessThanOrEqual(every2 - 1);
    // a budget nothing meets: no fit for auto either
    const none1k = budgetError(() => on({ checkpoint: 'none', memory: { gpu: 1024 } }));
    expect(none1k).toMatchObject({ needed: dagWithout, autoFits: undefined });
    expect(none1k.smallest).toBe(budgetError(() => on({ checkpoint: 'auto', memory: { gpu: 1024 } })).smallest);
  });
  it('checking a budget (flexc check): the same verdict and least budget, a fixed policy when one fits', () => {
    const feasible = (budget: number) =>
      checkpointModule(dag, config({ checkpoint: 'auto', memory: { gpu: budget } }), true);
    const least = budgetError(() => on({ checkpoint: 'auto', memory: { gpu: 1024 } })).smallest;
    expect(budgetError(() => feasible(1024)).smallest).toBe(least);
    expect(budgetError(() => feasible(least - 1)).smallest).toBe(least);
    const sqrt = on({ checkpoint: 'sqrt' }).report!.bytesWith;
    expect(sqrt).toBeLessThan(dagWithout - 1);
    for (const budget of [least, least + 848, sqrt - 1, sqrt, dagWithout - 1]) {
      const r = feasible(budget);
      expect(r.report!.bytesWith, `budget ${budget}`).toBeLessThanOrEqual(budget);
      expect(r.report!.bytesWith).toBe(arena(r.module));
      // what the search would pick is no costlier: checking stops at the first schedule that fits
      const best = on({ checkpoint: 'auto', memory: { gpu: budget } });
      expect(costOf(best.module)).toBeLessThanOrEqual(costOf(r.module));
      // sqrt is tried first
      if (budget >= sqrt) expect(r.report!.bytesWith).toBe(sqrt);
      else expect(r.report!.bytesWith).toBeLessThan(sqrt);
    }
  });

  it('checking a budget on a chain: the chain solver’s first fit where no fixed policy fits', () => {
    const lines = ['module @chain {', '  %0 = input "x" : f32[32,32]'];
    lines.push(
      '  %1 = param "w" {init = "normal", mean = 0, std = 0.1} : f32[32,32]',
      '  %2 = mul %0, %1 : f32[32,32]',
    );
    for (let i = 3; i <= 40; i++) lines.push(`  %${i} = tanh %${i - 1} : f32[32,32]`);
    lines.push('  %41 = mean %40 {axes = [0, 1], keepdims = false} : f32[]', '  output "loss" = %41', '}');
    const fwd = parseModule(lines.join('\n'));
    const chain = differentiate(fwd, fwd.values.at(-1)!);
    const at = (over: Record<string, unknown>, feasibility = false) =>
      checkpointModule(chain, config(over), feasibility);
    const least = budgetError(() => at({ checkpoint: 'auto', memory: { gpu: 1024 } })).smallest;
    const fixed = Math.min(at({ checkpoint: 'sqrt' }).report!.bytesWith, at({ checkpoint: 'all' }).report!.bytesWith);
    expect(least).toBeLessThan(fixed - 1);
    for (const budget of [least, fixed - 1]) {
      const r = at({ checkpoint: 'auto', memory: { gpu: budget } }, true);
      expect(r.report!.bytesWith, `budget ${budget}`).toBeLessThanOrEqual(budget);
      expect(r.report!.solver).toBe('chain');
    }
    expect(budgetError(() => at({ checkpoint: 'auto', memory: { gpu: least - 1 } }, true)).smallest).toBe(least);
  });

  it('measures one rank’s peak in the memory timeline under data parallelism or offload', () => {
    for (const parallel of [
      { data: 2, zero: 0, offload: [] },
      { data: 1, zero: 0, offload: ['optimizer'] },
    ]) {
      const cfg = config({ parallel, checkpoint: 'none' });
      const r = checkpointModule(step, cfg);
      expect(r.report!.measured).toBe('per-gpu');
      expect(r.report!.bytesWith).toBe(memoryTimeline(deadCodeEliminate(step), cfg, { points: false }).gpu.peak_bytes);
    }
  });

  it('leaves a step without training or without its loss output alone', () => {
    expect(checkpointModule(step, planConfig({ task: { kind: 'infer' }, checkpoint: 'all' }))).toEqual({
      module: step,
    });
    const noLoss = { ...step, outputs: step.outputs.filter((o) => o.name !== 'loss') };
    expect(checkpointModule(noLoss, config({ checkpoint: 'all' }))).toEqual({ module: noLoss });
  });
});
