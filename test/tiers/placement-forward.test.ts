import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evalModule, graphResolver } from '../../compiler/cli/run.ts';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuPlanSession } from '../../compiler/interp/plan-session.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { deadCodeEliminate } from '../../compiler/ir/graph.ts';
import { lowerPlan } from '../../compiler/lower/lower.ts';
import { BudgetInfeasibleError } from '../../compiler/passes/checkpoint.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import { copyModule } from '../../compiler/plan-pipeline.ts';
import { placedOnWebgpu, sameCpuSteps } from '../helpers/same-steps.ts';

const spill = mkdtempSync(join(tmpdir(), 'flexc-forward-test-'));
afterAll(() => rmSync(spill, { recursive: true, force: true }));

/**
 * A step without a backward pass keeps the plan's budget too: the evaluation of examples/gcn-cora-blocks.flex
 * (GCN-Cora in 8 blocks within 134 KiB) needs more without placement; placed by the sweep (its leaves and blocks
 * waiting in host memory between readers), it fits, and computes bitwise what the whole evaluation does.
 */
describe('placement of an evaluation step', () => {
  const r = compile('examples/gcn-cora-blocks.flex', 'sixteenth');
  const graphs = graphResolver(r.program);
  const low = lowerPlan(r.program!, r.plan!.decl, r.plan!.resolved, { evaluation: true }).lowered!;
  const budget = low.config.memory.gpu!;
  const unbudgeted = { ...low.config, memory: {} };
  const whole = runPipeline(copyModule(low.forward), { config: unbudgeted, graphs });
  const placed = evalModule(r).module!;

  it('fits the budget it did not fit whole; the same logits on the CPU reference and WebGPU', async () => {
    expect(planMemory(deadCodeEliminate(whole)).arenaBytes).toBeGreaterThan(budget);
    expect(placed.checkpoint).toMatchObject({ solver: 'sweep', tiers: { placement: 'auto' } });
    const plan = buildPlan(placed, low.config, {}).plan;
    expect(plan.arenas.gpu).toBeLessThanOrEqual(budget);
    const want = new CpuSession(whole, { seed: 0, graphs });
    const got = new CpuPlanSession(placed, plan, { graphs }, true, spill);
    sameCpuSteps(want, got, 1);
    got.destroy();
    await placedOnWebgpu({ m: whole, config: unbudgeted }, { m: placed, config: low.config }, graphs, budget);
  }, 120_000);

  it('a budget nothing meets names the smallest that works, and that one works', () => {
    const config = { ...low.config, memory: { ...low.config.memory, gpu: 64 * 1024 } };
    let smallest = 0;
    try {
      runPipeline(copyModule(low.forward), { config, graphs });
      expect.unreachable();
    } catch (e) {
      if (!(e instanceof BudgetInfeasibleError)) throw e;
      smallest = e.smallest;
    }
    expect(smallest).toBeGreaterThan(64 * 1024);
    const m = runPipeline(copyModule(low.forward), {
      config: { ...config, memory: { ...config.memory, gpu: smallest } },
      graphs,
    });
    expect(buildPlan(m, config, {}).plan.arenas.gpu).toBeLessThanOrEqual(smallest);
  });
});
