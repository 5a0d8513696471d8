import type { StageSchedule, TrainingGraph } from './training-graph.ts';
import { bitsOf, checkmateLp } from './checkmate-lp.ts';

/**
 * Replays a stage schedule in Checkmate's memory model: a stage starts with the values kept from
 * the previous one, computes its nodes in order and frees a value after its last use in the stage
 * unless a later stage reads it before recomputing it; outputs stay. Throws when a node's operand
 * is not there. Returns the total cost and the peak bytes (leaves included).
 */
export function replay(g: TrainingGraph, stages: StageSchedule): { cost: number; recompute: number; peak: number } {
  const n = g.nodes.length;
  // touches[i]: the stages that compute i or one of its users
  const touches: number[][] = g.nodes.map(() => []);
  stages.forEach((s, t) => {
    const seen = new Set<number>();
    for (const k of s) for (const i of [k, ...g.nodes[k]!.deps]) if (!seen.has(i)) (seen.add(i), touches[i]!.push(t));
  });
  const neededAfter = (i: number, t: number) => {
    if (g.nodes[i]!.output) return true;
    const next = touches[i]!.find((u) => u > t);
    return next !== undefined && !stages[next]!.includes(i);
  };
  let live = new Set<number>();
  let cost = 0;
  let peak = 0;
  for (let t = 0; t < n; t++) {
    const s = stages[t];
    if (!s?.includes(t)) throw new Error(`stage ${t} does not compute node ${t}`);
    let bytes = [...live].reduce((a, i) => a + g.nodes[i]!.bytes, 0);
    s.forEach((k, at) => {
      const v = g.nodes[k]!;
      for (const i of v.deps) if (!live.has(i)) throw new Error(`stage ${t}: ${v.name} needs ${g.nodes[i]!.name}, which is not in memory`);
      cost += v.cost;
      if (!live.has(k)) (live.add(k), (bytes += v.bytes));
      peak = Math.max(peak, bytes);
      for (const i of new Set([k, ...v.deps])) {
        const laterHere = s.slice(at + 1).some((j) => j === i || g.nodes[j]!.deps.includes(i));
        if (!laterHere && !neededAfter(i, t)) (live.delete(i), (bytes -= g.nodes[i]!.bytes));
      }
    });
    live = new Set([...live].filter((i) => neededAfter(i, t)));
  }
  const base = g.nodes.reduce((a, v) => a + v.cost, 0);
  return { cost, recompute: cost - base, peak: peak + g.leafBytes };
}

/** Peak bytes with every node computed once (no recomputation). */
export const peakWithout = (g: TrainingGraph) => replay(g, g.nodes.map((_, t) => [t])).peak;

export interface CheckmateSolution {
  status: string;
  /** Optimal stage schedule (undefined when infeasible or out of time). */
  stages?: StageSchedule;
  /** Total cost of the schedule (recomputeCost), replayed. */
  cost?: number;
  seconds: number;
}

type Highs = { solve(lp: string, options?: Record<string, unknown>): { Status: string; ObjectiveValue: number; Columns: Record<string, { Primal: number }> } };
let highs: Promise<Highs> | undefined;
const loadHighs = async (): Promise<Highs> => ((highs ??= import('highs').then((m) => (m.default as unknown as () => Promise<Highs>)())));

interface MilpOptions {
  timeLimit?: number;
  relGap?: number;
  recompute?: 'activations' | 'any';
}

/** Solves the MILP with HiGHS (sizes scaled to about 1,024 units of the largest result) and reads the schedule from R. */
async function runMilp(g: TrainingGraph, budget: number | 'minimize', opts: MilpOptions): Promise<{ status: string; stages?: StageSchedule; seconds: number }> {
  const solver = await loadHighs();
  const unit = Math.max(1, Math.max(...g.nodes.map((v) => v.bytes)) / 1024);
  const costUnit = Math.max(1, Math.max(...g.nodes.map((v) => v.cost)) / 1024);
  const t0 = performance.now();
  const sol = solver.solve(checkmateLp(g, budget, unit, costUnit, opts.recompute), { time_limit: opts.timeLimit ?? 120, mip_rel_gap: opts.relGap ?? 1e-6, output_flag: false });
  const seconds = (performance.now() - t0) / 1000;
  if (sol.Status !== 'Optimal') return { status: sol.Status, seconds };
  const { R } = bitsOf(g, opts.recompute ?? 'activations');
  const on = (x: string | number) => (typeof x === 'number' ? x === 1 : (sol.Columns[x]?.Primal ?? 0) > 0.5);
  const stages: StageSchedule = g.nodes.map((_, t) => g.nodes.map((_, i) => i).filter((i) => on(R(t, i))));
  return { status: sol.Status, stages, seconds };
}

/** Solves Checkmate's MILP with HiGHS: the least-cost schedule whose peak (leaves included) is at most `budget` bytes. */
export async function solveCheckmate(g: TrainingGraph, budget: number, opts: MilpOptions = {}): Promise<CheckmateSolution> {
  const r = await runMilp(g, budget, opts);
  return r.stages ? { ...r, cost: replay(g, r.stages).cost } : r;
}

/** The least peak (bytes, leaves included) of any schedule (recomputing activations in the backward pass only, or `any`). */
export async function minimumBudget(g: TrainingGraph, opts: Omit<MilpOptions, 'relGap'> = {}): Promise<{ bytes?: number; seconds: number }> {
  const r = await runMilp(g, 'minimize', { ...opts, relGap: 1e-9 });
  return { bytes: r.stages && replay(g, r.stages).peak, seconds: r.seconds };
}
