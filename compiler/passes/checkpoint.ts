import { deadCodeEliminate, type CheckpointReport, type Module } from '../ir/graph.ts';
import { flopsOf } from '../ir/ops/registry.ts';
import { planMemory } from '../codegen/memory.ts';
import { memoryTimeline } from '../cost/memory.ts';
import { applySchedule, REMAT_SUFFIX, type Rewritten } from '../remat/emit.ts';
import { everyK, sqrtK } from '../remat/policies.ts';
import type { Schedule } from '../remat/schedule.ts';
import { fastSchedule } from '../remat/auto.ts';
import { recomputeCost } from '../remat/cost.ts';
import { findStages } from '../remat/stages.ts';
import type { PlanConfig } from '../sema/plan.ts';
import type { Pass } from './pass.ts';

/**
 * The step needs more than the budget under the plan's policy. `autoFits`: the bytes `auto` needs
 * when it meets the budget; otherwise `smallest` is the least of any schedule flexc considers.
 */
export class BudgetInfeasibleError extends Error {
  constructor(
    readonly budget: number,
    readonly needed: number,
    readonly smallest: number,
    readonly policy: string,
    readonly autoFits?: number,
  ) {
    super(
      `the training step needs ${needed} bytes with checkpoint: ${policy}, more than the ` +
        `${budget}-byte GPU budget; the smallest budget that works is ${smallest} bytes`,
    );
  }
}

/** The bytes a budget bounds (see CheckpointReport.measured), of a module with dead code removed. */
function measureOf(config: PlanConfig): { measured: CheckpointReport['measured']; bytes: (live: Module) => number } {
  const { data, offload } = config.parallel;
  if (data > 1 || offload.length > 0)
    return { measured: 'per-gpu', bytes: (live) => memoryTimeline(live, config, { points: false }).gpu.peak_bytes };
  return { measured: 'arena', bytes: (live) => planMemory(live).arenaBytes };
}
const policyName = (c: PlanConfig['checkpoint']) => (typeof c === 'string' ? c : `every(${c.every})`);

/**
 * Activation checkpointing: under `checkpoint: none | all | every(k) | sqrt | auto`, decides which
 * forward values the backward pass keeps and which it recomputes, and inserts the recomputations.
 * `auto` with `memory: { gpu: X }` picks the schedule of least recompute whose exact bytes (this
 * module's memory plan, or one rank's peak under data parallelism: measureOf) fit X, among the
 * optimal chain schedules for each memory level and, for steps small enough, the resident-set DP's
 * (exact in Checkmate's model) and the keep-or-recompute-once greedy's (fastSchedule). A plan that
 * cannot fit X under any schedule is BudgetInfeasibleError, naming the smallest budget that works.
 */
export const checkpoint: Pass = {
  name: 'checkpoint',
  doc: 'keep or recompute each activation for the backward pass (checkpoint: …, memory: { gpu: … })',
  run(m, { config, feasibility }) {
    const r = checkpointModule(m, config, feasibility);
    return r.report ? { ...r.module, checkpoint: r.report } : r.module;
  },
};

export function checkpointModule(
  m: Module,
  config: PlanConfig,
  feasibility = false,
): { module: Module; report?: CheckpointReport } {
  const task = config.task;
  if (task.kind !== 'train') return { module: m };
  const loss = m.outputs.find((o) => o.name === task.loss)?.value;
  if (!loss) return { module: m };
  const budget = config.memory.gpu;
  const policy = policyName(config.checkpoint);
  const st = findStages(m, loss);
  const n = st.members.length;
  const { measured, bytes: bytesOf } = measureOf(config);
  const without = bytesOf(deadCodeEliminate(m));
  const stepFlops = flopsOf(m.values);
  const measure = (r: Rewritten) => {
    const live = deadCodeEliminate(r.module);
    const cost = live.values.reduce((a, v) => a + (r.recomputed.has(v) ? recomputeCost(v) : 0), 0);
    return { module: r.module, bytes: bytesOf(live), cost };
  };
  const withSchedule = (s: Schedule) => measure(applySchedule(m, st, s));
  const autoFit = (budget: number) => fastSchedule(m, loss, st, budget, measure, feasibility);
  const report = (
    out: Module,
    bytes: number,
    solver?: CheckpointReport['solver'],
  ): { module: Module; report: CheckpointReport } => {
    const recomputeFlops = flopsOf(out.values.filter((v) => v.name?.endsWith(REMAT_SUFFIX)));
    return {
      module: out,
      report: {
        policy,
        ...(solver ? { solver } : {}),
        stages: n,
        measured,
        bytesWithout: without,
        bytesWith: bytes,
        recomputeFlops,
        stepFlops,
      },
    };
  };

  let chosen: { module: Module; bytes: number; solver?: CheckpointReport['solver'] };
  const c = config.checkpoint;
  if (c === 'none' || (c === 'auto' && (budget === undefined || without <= budget)))
    chosen = { module: m, bytes: without };
  else if (c === 'all') chosen = withSchedule(everyK(n, 1));
  else if (c === 'sqrt') chosen = withSchedule(everyK(n, sqrtK(n)));
  else if (c !== 'auto') chosen = withSchedule(everyK(n, c.every));
  else {
    const found = autoFit(budget!);
    if (!found.fits) throw new BudgetInfeasibleError(budget!, without, found.smallest, policy);
    chosen = found.fits;
  }
  if (budget !== undefined && chosen.bytes > budget) {
    const auto = without <= budget ? { fits: { bytes: without, cost: 0 }, smallest: without } : autoFit(budget);
    throw new BudgetInfeasibleError(budget, chosen.bytes, Math.min(auto.smallest, without), policy, auto.fits?.bytes);
  }
  return report(chosen.module, chosen.bytes, chosen.solver);
}
