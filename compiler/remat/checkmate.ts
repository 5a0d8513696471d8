import type { StageSchedule, TrainingGraph } from './training-graph.ts';
import { bitsOf, checkmateLp, checkmateRelaxedLp } from './checkmate-lp.ts';

/**
 * Replays a stage schedule in Checkmate's memory model: a stage starts with the values kept from
 * the previous one, computes its nodes in order and frees a value after its last use in the stage
 * unless a later stage reads it before recomputing it; outputs stay. Throws when a node's operand
 * is not there. Returns the total cost and the peak bytes (leaves included), and with `trace` the
 * bytes after each computation. `reloaded`: nodes that a later stage brings back from host memory or the SSD
 * instead of recomputing them (free in cost, reading nothing).
 */
export function replay(
  g: TrainingGraph,
  stages: StageSchedule,
  opts: { trace?: boolean; reloaded?: ReadonlySet<number> } = {},
): { cost: number; recompute: number; peak: number; trace?: number[] } {
  // a reloaded node in a later stage comes back from another tier: no cost, and it reads nothing
  const reads = (k: number, t: number) => (k !== t && opts.reloaded?.has(k) ? [] : g.nodes[k]!.deps);
  const n = g.nodes.length;
  // touches[i]: the stages that compute i or one of its users, ascending; computes[i]: whether each computes i
  const touches: number[][] = g.nodes.map(() => []);
  const computes: boolean[][] = g.nodes.map(() => []);
  const seenIn = new Int32Array(n).fill(-1);
  const memberOf = new Int32Array(n).fill(-1);
  for (let t = 0; t < stages.length; t++) {
    const s = stages[t]!;
    for (const k of s) memberOf[k] = t;
    for (const k of s) {
      if (seenIn[k] !== t) (seenIn[k] = t), touches[k]!.push(t), computes[k]!.push(true);
      for (const i of reads(k, t))
        if (seenIn[i] !== t) (seenIn[i] = t), touches[i]!.push(t), computes[i]!.push(memberOf[i] === t);
    }
  }
  const next = new Int32Array(n);
  // whether i must stay after stage t: an output, or read by a later stage before it is recomputed
  const neededAfter = (i: number, t: number) => {
    if (g.nodes[i]!.output) return true;
    const ts = touches[i]!;
    while (next[i]! < ts.length && ts[next[i]!]! <= t) next[i]!++;
    return next[i]! < ts.length && !computes[i]![next[i]!];
  };
  const live = new Uint8Array(n);
  const lastAt = new Int32Array(n);
  let cost = 0;
  let peak = 0;
  let bytes = 0;
  const trace: number[] = [];
  for (let t = 0; t < n; t++) {
    const s = stages[t];
    if (!s?.includes(t)) throw new Error(`stage ${t} does not compute node ${t}`);
    for (let at = 0; at < s.length; at++) {
      lastAt[s[at]!] = at;
      for (const i of reads(s[at]!, t)) lastAt[i] = at;
    }
    for (let at = 0; at < s.length; at++) {
      const k = s[at]!;
      const v = g.nodes[k]!;
      const deps = reads(k, t);
      for (const i of deps)
        if (!live[i]) throw new Error(`stage ${t}: ${v.name} needs ${g.nodes[i]!.name}, which is not in memory`);
      if (deps === v.deps) cost += v.cost;
      if (!live[k]) (live[k] = 1), (bytes += v.bytes);
      if (bytes > peak) peak = bytes;
      if (opts.trace) trace.push(bytes + g.leafBytes);
      if (live[k] && lastAt[k] === at && !neededAfter(k, t)) (live[k] = 0), (bytes -= v.bytes);
      for (const i of deps)
        if (live[i] && lastAt[i] === at && !neededAfter(i, t)) (live[i] = 0), (bytes -= g.nodes[i]!.bytes);
    }
  }
  const base = g.nodes.reduce((a, v) => a + v.cost, 0);
  return { cost, recompute: cost - base, peak: peak + g.leafBytes, ...(opts.trace ? { trace } : {}) };
}

/** Peak bytes with every node computed once (no recomputation). */
export const peakWithout = (g: TrainingGraph) =>
  replay(
    g,
    g.nodes.map((_, t) => [t]),
  ).peak;

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
