import { deadCodeEliminate, type CheckpointReport, type Module, type Value } from '../ir/graph.ts';
import { greedySchedule, residentSchedule } from './auto-stages.ts';
import type { Rewritten } from './emit.ts';
import { applySchedule } from './chain-stages.ts';
import { everyK, sqrtK } from './policies.ts';
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
/** Exact peaks stray from the levels' order by a few percent, never by this factor. */
const FAR_OVER = 1.5;

/** Chains up to this many stages try every(k) for every k; longer ones 1, 2, √n and the powers of 2. */
const EVERY_K_ALL = 64;
const fixedPolicies = (n: number): Set<number> => {
  if (n <= EVERY_K_ALL) return new Set(Array.from({ length: n }, (_, i) => i + 1));
  const ks = new Set([1, 2, sqrtK(n)]);
  for (let k = 4; k < n; k *= 2) ks.add(k);
  return ks;
};

/**
 * The fast solver: the chain solver's optimal schedule at every memory level (one shared table),
 * each distinct one measured exactly by `measure` (the rewritten step's arena and recompute, or
 * Checkmate's), cheapest first by the solver's estimate; returns the least recompute that fits the
 * budget. The solver's memory model is approximate (gradients, overlapping frontiers), so exact
 * peaks are not monotone in the level and every level's schedule is a candidate: a binary search
 * over the levels, then the cheapest by the solver's estimate are measured; without a fit
 * among the cheapest, those of the lowest levels are measured too. `smallest`, the least measure
 * seen, is a budget this search meets (the same candidates are measured whenever none fits).
 * `firstFit`: a schedule the binary search finds to fit is the answer.
 */
export function autoSchedule<T extends { bytes: number; cost: number }>(
  st: Stages,
  budget: number,
  measure: (s: Schedule) => T,
  firstFit = false,
  /** Whether the least budget is not asked for: a search that ends far over the budget stops there. */
  quick = false,
): { fits?: T; smallest: number } {
  const total =
    st.saved.reduce((a, vs) => a + bytesOf(vs), 0) +
    st.boundary.reduce((a, vs) => a + bytesOf(vs), 0) +
    Math.max(0, ...st.overhead);
  const unit = Math.max(1, Math.ceil(total / RESOLUTION));
  const chain = chainOf(st, unit);
  const top = [...chain.saved, ...chain.boundary].reduce((a, x) => a + x, 0) + Math.max(0, ...chain.overhead!);
  const solve = chainSolver(chain, top);
  const n = st.members.length;
  const seen = new Set<string>();
  const candidates: { cost: number; schedule: Schedule }[] = []; // by level, highest first
  for (let level = top; level >= 0; level--) {
    const sol = solve(level);
    if (!sol) break;
    const key = JSON.stringify(sol.schedule);
    if (!seen.has(key)) seen.add(key), candidates.push(sol);
  }
  // by the schedule's shape: a fixed policy's tree is often one of the solver's, and is measured once
  const measured = new Map<string, T>();
  const exact = (s: Schedule) => {
    const key = JSON.stringify(s);
    return measured.get(key) ?? measured.set(key, measure(s)).get(key)!;
  };
  let fits: T | undefined;
  const consider = (r: T) => {
    if (r.bytes <= budget && (!fits || r.cost < fits.cost)) fits = r;
  };
  // a binary search over the levels (peaks are nearly monotone in them), then the cheapest by estimate
  let lo = 0;
  let hi = candidates.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = exact(candidates[mid]!.schedule);
    consider(r);
    if (r.bytes <= budget) hi = mid - 1;
    else lo = mid + 1;
  }
  const least = () => Math.min(...[...measured.values()].map((r) => r.bytes));
  if (firstFit && fits) return { fits, smallest: least() };
  // the search ends at the lowest level's schedule: far over the budget there, none of the others comes near it
  if (quick && !fits && least() > FAR_OVER * budget) return { smallest: least() };
  let after = 0;
  for (const c of [...candidates].sort((a, b) => a.cost - b.cost).slice(0, MAX_EVALUATIONS)) {
    consider(exact(c.schedule));
    if (fits && ++after > AFTER_FIRST_FIT) break;
  }
  // the fixed policies too: their schedules can be smaller or cheaper than the solver's estimate allows
  for (const k of fixedPolicies(n)) consider(exact(everyK(n, k)));
  // on long chains, the cheapest every(k) that fits: recompute grows with k, memory falls up to √n (a binary
  // search there, and its neighbours: exact peaks are not quite monotone)
  if (n > EVERY_K_ALL) {
    let [a, b] = [1, sqrtK(n)];
    while (a < b) {
      const k = (a + b) >> 1;
      if (exact(everyK(n, k)).bytes <= budget) b = k;
      else a = k + 1;
    }
    for (const k of [a - 1, a, a + 1]) if (k >= 1 && k <= n) consider(exact(everyK(n, k)));
  }
  if (!fits) for (const c of candidates.slice(-AFTER_FIRST_FIT)) consider(exact(c.schedule));
  return { fits, smallest: least() };
}

export type Solver = NonNullable<CheckpointReport['solver']>;

/**
 * The fast solver on a step: the cheapest fitting schedule of the chain DP's (autoSchedule over
 * `st`: which blocks to recompute), for steps within RESIDENT_LIMITS the resident-set DP's, and
 * for steps within GREEDY_LIMIT the keep-or-recompute-once greedy's (which activations inside the
 * blocks to recompute), each measured by `measure` on the rewritten step. `smallest`, when none
 * fits: the least budget any of them meets, the greedy's searched only below the others' (when
 * one fits, not searched: the least of the chain DP's and the fitting one's). `firstFit` (checking
 * whether a budget can be kept): `sqrt` or `every(1)`, when one fits, is the answer, else the
 * chain DP's schedule when it fits; only then the other solvers. `quick`: when none fits, the least budget is not
 * searched (`smallest` is the least the chain DP measured, which stops far over the budget).
 */
export function fastSchedule<T extends { bytes: number; cost: number }>(
  m: Module,
  loss: Value,
  st: Stages,
  budget: number,
  measure: (r: Rewritten) => T,
  firstFit = false,
  quick = false,
): { fits?: T & { solver: Solver }; smallest: number } {
  if (firstFit) {
    // whether the budget can be kept at all: a fixed policy that fits settles it without the solvers
    const n = st.members.length;
    for (const k of new Set([sqrtK(n), 1])) {
      const r = measure(applySchedule(m, st, everyK(n, k)));
      if (r.bytes <= budget) return { fits: { ...r, solver: 'chain' }, smallest: r.bytes };
    }
  }
  const chain = autoSchedule(st, budget, (s) => measure(applySchedule(m, st, s)), firstFit, quick);
  // whether the budget can be kept at all: the chain's answer settles it when it fits
  if (firstFit && chain.fits)
    return { fits: { ...chain.fits, solver: 'chain' }, smallest: Math.min(chain.smallest, chain.fits.bytes) };
  const live = deadCodeEliminate(m);
  const resident = residentSchedule(live, loss, budget, measure);
  const greedy = greedySchedule(live, loss, budget, measure);
  const tagged = [
    chain.fits && { ...chain.fits, solver: 'chain' as const },
    resident?.fits && { ...resident.fits, solver: 'resident-sets' as const },
    greedy?.fits && { ...greedy.fits, solver: 'greedy' as const },
  ];
  const fits = tagged.filter((f) => f !== undefined).sort((a, b) => a.cost - b.cost)[0];
  if (fits) return { fits, smallest: Math.min(chain.smallest, fits.bytes) };
  if (quick) return { smallest: chain.smallest };
  // the least schedules the stage solvers build for other budgets: one may meet this budget after all
  const residentLeast = resident?.smallest?.(Infinity);
  const others = Math.min(chain.smallest, residentLeast?.bytes ?? Infinity);
  const greedyLeast = greedy?.smallest?.(others);
  const least = [
    residentLeast && { ...residentLeast, solver: 'resident-sets' as const },
    greedyLeast && { ...greedyLeast, solver: 'greedy' as const },
  ]
    .filter((f) => f !== undefined)
    .sort((a, b) => a.bytes - b.bytes || a.cost - b.cost)[0];
  if (least && least.bytes <= budget) return { fits: least, smallest: least.bytes };
  return { smallest: Math.min(others, least?.bytes ?? Infinity) };
}
