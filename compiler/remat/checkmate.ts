import type { StageSchedule, TrainingGraph } from './training-graph.ts';

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

/**
 * Checkmate's MILP (Jain et al. 2020, frontier-advancing stages) in CPLEX LP format: R_t_i
 * (node i computed in stage t), S_t_i (i kept into stage t), F_t_i_k (i freed after k in stage t)
 * and U_t_k (bytes after computing k in stage t); minimizes the total cost subject to
 * U ≤ budget − leaf bytes (or, with `'minimize'`, the least peak any schedule reaches). Sizes
 * are in `unit` bytes and costs in `costUnit`. With `recompute: 'activations'` the forward pass runs once and only activations (forward nodes) are
 * computed again, during the backward pass — the problem activation checkpointing solves; `'any'`
 * is Checkmate's own, which may also recompute during the forward pass and recompute gradients.
 */
export function checkmateLp(g: TrainingGraph, budget: number | 'minimize', unit: number, costUnit: number, recompute: 'activations' | 'any' = 'activations'): string {
  const n = g.nodes.length;
  const users: number[][] = g.nodes.map(() => []);
  g.nodes.forEach((v, j) => v.deps.forEach((i) => users[i]!.push(j)));
  const M = (i: number) => g.nodes[i]!.bytes / unit;
  const R = (t: number, i: number) => `R_${t}_${i}`;
  const S = (t: number, i: number) => `S_${t}_${i}`;
  const F = (t: number, i: number, k: number) => `F_${t}_${i}_${k}`;
  const U = (t: number, k: number) => `U_${t}_${k}`;
  const term = (c: number, x: string) => `${c < 0 ? '-' : '+'} ${fmt(Math.abs(c))} ${x}`;
  const obj: string[] = [];
  const rows: string[] = [];
  const bounds: string[] = [];
  const bins: string[] = [];
  const cap = budget === 'minimize' ? undefined : (budget - g.leafBytes) / unit;
  const hasS = (t: number, i: number) => t >= 1 && t < n && i < t;
  for (let t = 0; t < n; t++) {
    for (let i = 0; i <= t; i++) {
      bins.push(R(t, i));
      const c = g.nodes[i]!.cost / costUnit;
      if (c > 0 && cap !== undefined) obj.push(term(c, R(t, i)));
      if (hasS(t, i)) bins.push(S(t, i));
    }
    bounds.push(`${R(t, t)} = 1`);
    if (recompute === 'activations') for (let i = 0; i < t; i++) if (!g.nodes[i]!.forward || g.nodes[t]!.forward) bounds.push(`${R(t, i)} = 0`);
    for (let j = 0; j <= t; j++)
      for (const i of g.nodes[j]!.deps) rows.push(`${R(t, j)} - ${R(t, i)}${hasS(t, i) ? ` - ${S(t, i)}` : ''} <= 0`);
    if (t + 1 < n)
      for (let i = 0; i <= t; i++) {
        rows.push(`${S(t + 1, i)} - ${R(t, i)}${hasS(t, i) ? ` - ${S(t, i)}` : ''} <= 0`);
        if (g.nodes[i]!.output) bounds.push(`${S(t + 1, i)} = 1`);
      }
    // memory: U_t_k = U_t_{k-1} + M_k R_t_k − Σ freed after k−1
    const freed: string[][] = [];
    for (let k = 0; k <= t; k++) {
      freed[k] = [];
      for (const i of new Set([k, ...g.nodes[k]!.deps])) {
        if (g.nodes[i]!.output) continue;
        const later = users[i]!.filter((j) => j > k && j <= t);
        const f = F(t, i, k);
        bins.push(f);
        const kappa = 2 + later.length;
        const hazards = [`- ${R(t, k)}`, ...(t + 1 < n ? [`+ ${S(t + 1, i)}`] : []), ...later.map((j) => `+ ${R(t, j)}`)];
        rows.push(`${hazards.join(' ')} + ${kappa} ${f} <= ${kappa - 1}`);
        freed[k]!.push(term(M(i), f));
      }
    }
    for (let k = 0; k <= t; k++) {
      const prev = k === 0 ? Array.from({ length: t }, (_, i) => (hasS(t, i) ? term(-M(i), S(t, i)) : '')).filter(Boolean) : [`- ${U(t, k - 1)}`, ...freed[k - 1]!];
      rows.push(`${U(t, k)} ${prev.join(' ')} ${term(-M(k), R(t, k))} = 0`);
      if (cap !== undefined) bounds.push(`0 <= ${U(t, k)} <= ${fmt(cap)}`);
      else rows.push(`${U(t, k)} - P <= 0`);
    }
  }
  const named = rows.map((r, i) => ` c${i}: ${r}`);
  if (cap === undefined) obj.push('+ P');
  return ['Minimize', ` obj: ${obj.join(' ') || '0 R_0_0'}`, 'Subject To', ...named, 'Bounds', ...bounds.map((b) => ` ${b}`), 'Binary', ...bins.map((b) => ` ${b}`), 'End', ''].join('\n');
}

const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(12));

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
  const stages: StageSchedule = g.nodes.map((_, t) => g.nodes.map((_, i) => i).filter((i) => i <= t && (sol.Columns[`R_${t}_${i}`]?.Primal ?? 0) > 0.5));
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
