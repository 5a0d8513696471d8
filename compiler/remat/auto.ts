import type { Schedule } from './schedule.ts';
import { chainSolver, type Chain } from './solve-chain.ts';
import { bytesOf, type Stages } from './stages.ts';

const RESOLUTION = 256; // memory units of the chain solver

/** The chain the solver sees: costs, and sizes in units of `unit` bytes (rounded up). */
export function chainOf(st: Stages, unit: number): Chain {
  return {
    forward: st.cost,
    boundary: st.boundary.map((vs) => Math.ceil(bytesOf(vs) / unit)),
    saved: st.saved.map((vs) => Math.ceil(bytesOf(vs) / unit)),
    needed: st.saved.map((vs) => vs.length > 0),
    overhead: st.overhead.map((b) => Math.ceil(b / unit)),
    kept: st.members.map((vs, k) => {
      const next = new Set(st.boundary[k + 1] ?? []);
      return Math.ceil(bytesOf(vs.filter((v) => next.has(v) || st.saved[k]!.includes(v))) / unit);
    }),
  };
}

/** Exact evaluations of candidate schedules: at most this many, and this many more after the first that fits. */
const MAX_EVALUATIONS = 64;
const AFTER_FIRST_FIT = 8;

/**
 * The fast solver: the chain solver's optimal schedule at every memory level (one shared table),
 * each distinct one measured exactly by `measure` (the rewritten step's arena and recompute, or
 * Checkmate's), cheapest first by the solver's estimate; returns the least recompute that fits the
 * budget. The solver's memory model is approximate (gradients, overlapping frontiers), so exact
 * peaks are not monotone in the level and every level's schedule is a candidate. Without a fit,
 * `smallest` is the least measure among the candidates of least memory.
 */
export function autoSchedule<T extends { bytes: number; cost: number }>(st: Stages, budget: number, measure: (s: Schedule) => T): { fits?: T; smallest: number } {
  const total = st.saved.reduce((a, vs) => a + bytesOf(vs), 0) + st.boundary.reduce((a, vs) => a + bytesOf(vs), 0) + Math.max(0, ...st.overhead);
  const unit = Math.max(1, Math.ceil(total / RESOLUTION));
  const chain = chainOf(st, unit);
  const top = [...chain.saved, ...chain.boundary].reduce((a, x) => a + x, 0) + Math.max(0, ...chain.overhead!);
  const solve = chainSolver(chain, top);
  const seen = new Set<string>();
  const candidates: { cost: number; schedule: Schedule }[] = []; // by level, highest first
  for (let level = top; level >= 0; level--) {
    const sol = solve(level);
    if (!sol) break;
    const key = JSON.stringify(sol.schedule);
    if (!seen.has(key)) (seen.add(key), candidates.push(sol));
  }
  const measured = new Map<Schedule, T>();
  const exact = (s: Schedule) => measured.get(s) ?? measured.set(s, measure(s)).get(s)!;
  let fits: T | undefined;
  let after = 0;
  for (const c of [...candidates].sort((a, b) => a.cost - b.cost).slice(0, MAX_EVALUATIONS)) {
    const r = exact(c.schedule);
    if (r.bytes <= budget && (!fits || r.cost < fits.cost)) fits = r;
    if (fits && ++after > AFTER_FIRST_FIT) break;
  }
  if (!fits) for (const c of candidates.slice(-AFTER_FIRST_FIT)) exact(c.schedule);
  const smallest = Math.min(...[...measured.values()].map((r) => r.bytes));
  return { fits, smallest };
}
