import type { StageSchedule, TrainingGraph } from '../../compiler/remat/training-graph.ts';
import { replay } from '../../compiler/remat/replay.ts';
import { bitsOf, checkmateLp, checkmateRelaxedLp } from './checkmate-lp.ts';

export interface CheckmateSolution {
  status: string;
  /** Optimal stage schedule (undefined when infeasible or out of time). */
  stages?: StageSchedule;
  /** Total cost of the schedule (recomputeCost), replayed. */
  cost?: number;
  seconds: number;
}

type Highs = {
  solve(
    lp: string,
    options?: Record<string, unknown>,
  ): { Status: string; ObjectiveValue: number; Columns: Record<string, { Primal: number }> };
};
let highs: Promise<Highs> | undefined;
const loadHighs = async (): Promise<Highs> =>
  (highs ??= import('highs').then((m) => (m.default as unknown as () => Promise<Highs>)()));

interface MilpOptions {
  timeLimit?: number;
  relGap?: number;
  recompute?: 'activations' | 'any';
}

/**
 * Solves the MILP with HiGHS (sizes scaled to about 1,024 units of the largest result) and reads the schedule from R.
 */
async function runMilp(
  g: TrainingGraph,
  budget: number | 'minimize',
  opts: MilpOptions,
  relaxed = false,
): Promise<{ status: string; stages?: StageSchedule; seconds: number }> {
  const solver = await loadHighs();
  const unit = Math.max(1, Math.max(...g.nodes.map((v) => v.bytes)) / 1024);
  const costUnit = Math.max(1, Math.max(...g.nodes.map((v) => v.cost)) / 1024);
  const lp =
    relaxed && budget !== 'minimize'
      ? checkmateRelaxedLp(g, budget, unit, costUnit)
      : checkmateLp(g, budget, unit, costUnit, opts.recompute);
  const t0 = performance.now();
  const sol = solver.solve(lp, {
    time_limit: opts.timeLimit ?? 120,
    mip_rel_gap: opts.relGap ?? 1e-6,
    output_flag: false,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (sol.Status !== 'Optimal') return { status: sol.Status, seconds };
  const { R } = bitsOf(g, relaxed ? 'activations' : (opts.recompute ?? 'activations'));
  const on = (x: string | number) => (typeof x === 'number' ? x === 1 : (sol.Columns[x]?.Primal ?? 0) > 0.5);
  const stages: StageSchedule = g.nodes.map((_, t) => g.nodes.map((_, i) => i).filter((i) => on(R(t, i))));
  return { status: sol.Status, stages, seconds };
}

/**
 * Solves Checkmate's MILP with HiGHS: the least-cost schedule whose peak (leaves included) is at most `budget` bytes.
 */
export async function solveCheckmate(
  g: TrainingGraph,
  budget: number,
  opts: MilpOptions = {},
): Promise<CheckmateSolution> {
  const r = await runMilp(g, budget, opts);
  return r.stages ? { ...r, cost: replay(g, r.stages).cost } : r;
}

/**
 * The least peak (bytes, leaves included) of any schedule (recomputing activations in the backward pass only, or
 * `any`).
 */
export async function minimumBudget(
  g: TrainingGraph,
  opts: Omit<MilpOptions, 'relGap'> = {},
): Promise<{ bytes?: number; seconds: number }> {
  const r = await runMilp(g, 'minimize', { ...opts, relGap: 1e-9 });
  return { bytes: r.stages && replay(g, r.stages).peak, seconds: r.seconds };
}

/**
 * Checkmate's optimum through its relaxation (checkmateRelaxedLp), for steps too large for the
 * full MILP: `lowerBound` is the relaxation's optimal cost, which no schedule within the budget
 * beats; `certified` when the relaxation's schedule replays within the budget, in which case it
 * is Checkmate's optimum (`cost`; `stages` is the relaxation's schedule either way).
 */
export async function solveCheckmateRelaxed(
  g: TrainingGraph,
  budget: number,
  opts: Omit<MilpOptions, 'recompute'> = {},
): Promise<CheckmateSolution & { lowerBound?: number; certified: boolean }> {
  const r = await runMilp(g, budget, opts, true);
  if (!r.stages) return { ...r, certified: false };
  const replayed = replay(g, r.stages);
  const certified = replayed.peak <= budget;
  return { ...r, ...(certified ? { cost: replayed.cost } : {}), lowerBound: replayed.cost, certified };
}
