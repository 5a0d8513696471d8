import { deadCodeEliminate, LEAF_OPS, type CheckpointReport, type Module } from '../ir/graph.ts';
import { getOp } from '../ir/ops/registry.ts';
import { planMemory } from '../codegen/memory.ts';
import { applySchedule, REMAT_SUFFIX } from '../remat/emit.ts';
import { everyK, sqrtK } from '../remat/policies.ts';
import type { Schedule } from '../remat/schedule.ts';
import { solveChain, type Chain } from '../remat/solve-chain.ts';
import { bytesOf, findStages, type Stages } from '../remat/stages.ts';
import type { PlanConfig } from '../sema/plan.ts';
import type { Pass } from './pass.ts';

/**
 * The step needs more than the budget under the plan's policy. `autoFits`: the arena `auto` needs
 * when it meets the budget; otherwise `smallest` is the least arena of any schedule flexc considers.
 */
export class BudgetInfeasibleError extends Error {
  constructor(
    readonly budget: number,
    readonly needed: number,
    readonly smallest: number,
    readonly policy: string,
    readonly autoFits?: number,
  ) {
    super(`the training step needs ${needed} bytes with checkpoint: ${policy}, more than the ${budget}-byte GPU budget; the smallest budget that works is ${smallest} bytes`);
  }
}

const RESOLUTION = 256; // memory units of the chain solver

const arenaOf = (m: Module) => planMemory(deadCodeEliminate(m)).arenaBytes;
const flopsOf = (m: Module) => m.values.reduce((a, v) => a + (LEAF_OPS.has(v.op) ? 0 : getOp(v.op).cost(v).flops), 0);
const policyName = (c: PlanConfig['checkpoint']) => (typeof c === 'string' ? c : `every(${c.every})`);

/** The chain the solver sees: FLOPs, and sizes in units of `unit` bytes (rounded up). */
function chainOf(st: Stages, unit: number): Chain {
  return {
    forward: st.flops,
    boundary: st.boundary.map((v) => (v ? Math.ceil(bytesOf([v]) / unit) : 0)),
    saved: st.saved.map((vs) => Math.ceil(bytesOf(vs) / unit)),
  };
}

/**
 * Activation checkpointing: under `checkpoint: none | all | every(k) | sqrt | auto`, decides which
 * forward values the backward pass keeps and which it recomputes, and inserts the recomputations.
 * `auto` with `memory: { gpu: X }` picks, among the optimal chain schedules for each memory level,
 * the one of least recompute whose exact arena (this module's memory plan) fits X. A plan that
 * cannot fit X under any schedule is BudgetInfeasibleError, naming the smallest budget that works.
 */
export const checkpoint: Pass = {
  name: 'checkpoint',
  doc: 'keep or recompute each activation for the backward pass (checkpoint: …, memory: { gpu: … })',
  run(m, { config }) {
    const r = checkpointModule(m, config);
    return r.report ? { ...r.module, checkpoint: r.report } : r.module;
  },
};

export function checkpointModule(m: Module, config: PlanConfig): { module: Module; report?: CheckpointReport } {
  if (config.task.kind !== 'train') return { module: m };
  const loss = m.outputs.find((o) => o.name === (config.task.kind === 'train' ? config.task.loss : ''))?.value;
  if (!loss) return { module: m };
  const budget = config.memory.gpu;
  const policy = policyName(config.checkpoint);
  const st = findStages(m, loss);
  const n = st.members.length;
  const without = arenaOf(m);
  const stepFlops = flopsOf(m);
  const withSchedule = (s: Schedule) => {
    const out = applySchedule(m, st, s);
    return { module: out, bytes: arenaOf(out) };
  };
  const report = (out: Module, bytes: number): { module: Module; report: CheckpointReport } => {
    const recomputeFlops = out.values.filter((v) => v.name?.endsWith(REMAT_SUFFIX)).reduce((a, v) => a + getOp(v.op).cost(v).flops, 0);
    return { module: out, report: { policy, stages: n, bytesWithout: without, bytesWith: bytes, recomputeFlops, stepFlops } };
  };

  let chosen: { module: Module; bytes: number };
  const c = config.checkpoint;
  if (c === 'none' || (c === 'auto' && (budget === undefined || without <= budget))) chosen = { module: m, bytes: without };
  else if (c === 'all') chosen = withSchedule(everyK(n, 1));
  else if (c === 'sqrt') chosen = withSchedule(everyK(n, sqrtK(n)));
  else if (c !== 'auto') chosen = withSchedule(everyK(n, c.every));
  else {
    const found = autoSchedule(m, st, budget!, withSchedule);
    if (!found.fits) throw new BudgetInfeasibleError(budget!, without, found.smallest, policy);
    chosen = found.fits;
  }
  if (budget !== undefined && chosen.bytes > budget) {
    const auto = without <= budget ? { fits: { bytes: without }, smallest: without } : autoSchedule(m, st, budget, withSchedule);
    throw new BudgetInfeasibleError(budget, chosen.bytes, Math.min(auto.smallest, without), policy, auto.fits?.bytes);
  }
  return report(chosen.module, chosen.bytes);
}

/**
 * Searches the chain solver's memory level: the largest level whose schedule's exact arena fits
 * the budget (least recompute), and the smallest arena seen at any level.
 */
function autoSchedule(m: Module, st: Stages, budget: number, withSchedule: (s: Schedule) => { module: Module; bytes: number }) {
  const total = st.saved.reduce((a, vs) => a + bytesOf(vs), 0) + st.boundary.reduce((a, v) => a + (v ? bytesOf([v]) : 0), 0);
  const unit = Math.max(1, Math.ceil(total / RESOLUTION));
  const chain = chainOf(st, unit);
  const top = Math.ceil(total / unit);
  const cache = new Map<number, { module: Module; bytes: number } | undefined>();
  const at = (level: number) => {
    if (!cache.has(level)) {
      const sol = solveChain(chain, level);
      cache.set(level, sol ? withSchedule(sol.schedule) : undefined);
    }
    return cache.get(level);
  };
  let smallest = Infinity;
  for (let k = 0; k <= 16; k++) smallest = Math.min(smallest, at(Math.round((top * k) / 16))?.bytes ?? Infinity);
  let lo = 0;
  let hi = top;
  let fits: { module: Module; bytes: number } | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = at(mid);
    if (r && r.bytes <= budget) {
      fits = r;
      lo = mid + 1;
    } else if (!r) lo = mid + 1;
    else hi = mid - 1;
  }
  for (const r of cache.values()) if (r) smallest = Math.min(smallest, r.bytes);
  return { fits, smallest };
}
