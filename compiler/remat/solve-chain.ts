import type { Schedule } from './schedule.ts';

/** A chain of stages with heterogeneous costs and sizes (memory in integer units). */
export interface Chain {
  /** Forward cost of each stage. */
  forward: number[];
  /** boundary[k]: memory of the input of stage k (boundary[0], the chain's input, is always held). */
  boundary: number[];
  /** Memory of stage k's internals while its backward needs them. */
  saved: number[];
  /** Whether stage k's backward reads its internals at all (default: every stage's does). */
  needed?: boolean[];
  /** Memory stage k's backward needs beyond its internals (gradients; default none). */
  overhead?: number[];
  /** Memory of keeping stage k's internals and its result for the stages after it (default: saved). */
  kept?: number[];
}

export interface ChainSolution {
  /**
   * Recompute cost: forward costs run again beyond the first forward pass (Griewank: all forward steps but the fused
   * ones).
   */
  cost: number;
  schedule: Schedule;
}

export interface SolveOptions {
  /**
   * Griewank's counting model: every advance counts (the first sweep too), reversing a stage is
   * fused with its last forward step and free, and a boundary reversed at once needs no slot.
   */
  griewank?: boolean;
}

const NONE = -1;

/**
 * Optimal checkpointing of a chain under a memory budget (units beyond the chain's input), by
 * dynamic programming over (first stage, end, memory left, on the first sweep?) in the spirit of
 * rotor (Beaumont et al. 2019): each range is reversed as a single stage, by keeping its first
 * stage's internals, by advancing to a boundary that is stored while the rest is reversed, or by
 * advancing to a stage whose internals are kept while its input is dropped at once.
 * Chains of identical stages are solved by length alone, so 1,000 stages take milliseconds.
 * Returns undefined when no schedule fits.
 */
export function solveChain(chain: Chain, budget: number, opts: SolveOptions = {}): ChainSolution | undefined {
  return chainSolver(chain, budget, opts)(budget);
}

/** solveChain for every budget up to `maxBudget`, sharing one table: the solution at each budget. */
export function chainSolver(
  chain: Chain,
  maxBudget: number,
  opts: SolveOptions = {},
): (budget: number) => ChainSolution | undefined {
  const n = chain.forward.length;
  const M = Math.max(0, Math.floor(maxBudget));
  const gw = opts.griewank === true;
  const needed = (s: number) => gw || chain.needed?.[s] !== false;
  const over = (s: number) => (gw ? 0 : (chain.overhead?.[s] ?? 0));
  const kept = (s: number) => chain.kept?.[s] ?? chain.saved[s]!;
  const same = (f: (s: number) => unknown) => chain.forward.every((_, s) => f(s) === f(0));
  const uniform =
    chain.boundary.slice(1).every((x) => x === chain.boundary[1]) &&
    [(s: number) => chain.forward[s], (s: number) => chain.saved[s], needed, over, kept].every(same);
  const prefix = [0];
  for (const f of chain.forward) prefix.push(prefix.at(-1)! + f);
  const advance = (a: number, b: number) => prefix[b]! - prefix[a]!;
  // memo over (range, m, orig): ranges by length when the chain is uniform, by (a, b) otherwise
  const ranges = uniform ? n + 1 : (n + 1) * (n + 1);
  const rangeKey = (a: number, b: number) => (uniform ? b - a : a * (n + 1) + b);
  const size = ranges * (M + 1) * 2;
  const memo = new Float64Array(size).fill(NaN);
  // 0: single, 1: keep, 2 + j: split at a + j, 2 + (b - a) + j: split at a + j dropping it
  const choice = new Int32Array(size).fill(NONE);
  const slot = (a: number, b: number, m: number, orig: boolean) => (rangeKey(a, b) * (M + 1) + m) * 2 + (orig ? 1 : 0);

  const solve = (a: number, b: number, m: number, orig: boolean): number => {
    const k = slot(a, b, m, orig);
    const have = memo[k]!;
    if (!Number.isNaN(have)) return have;
    let best = Infinity;
    let pick = NONE;
    const stageCost = (s: number) => (gw || orig || !needed(s) ? 0 : chain.forward[s]!);
    const keepCost = (s: number) => (orig ? 0 : chain.forward[s]!);
    if (b - a === 1) {
      if (gw || chain.saved[a]! + over(a) <= m) {
        best = stageCost(a);
        pick = 0;
      }
    } else {
      if (!gw && kept(a) + over(a) <= m) {
        const rest = solve(a + 1, b, m - kept(a), orig);
        if (keepCost(a) + rest < best) {
          best = keepCost(a) + rest;
          pick = 1;
        }
      }
      for (let j = a + 1; j < b; j++) {
        const need = gw && j === b - 1 ? 0 : gw ? 1 : chain.boundary[j]!;
        if (need > m) continue;
        const adv = gw || !orig ? advance(a, j) : 0;
        if (adv >= best) break; // advances only grow with j
        const right = solve(j, b, m - need, orig);
        if (adv + right >= best) continue;
        const total = adv + right + solve(a, j, m, false);
        if (total < best) {
          best = total;
          pick = 2 + (j - a);
        }
      }
      // advance to stage j, keep its internals and drop its input at once (its backward does not read it)
      if (!gw)
        for (let j = a + 1; j < b; j++) {
          const last = j === b - 1;
          if (last && !needed(j)) continue;
          const hold = last ? chain.saved[j]! : kept(j);
          if (hold + Math.max(over(j), chain.boundary[j]!) > m) continue;
          const adv = orig ? 0 : advance(a, j + 1);
          if (adv >= best) break;
          const right = last ? 0 : solve(j + 1, b, m - hold, orig);
          if (adv + right >= best) continue;
          const total = adv + right + solve(a, j, m, false);
          if (total < best) {
            best = total;
            pick = 2 + (b - a) + (j - a);
          }
        }
    }
    memo[k] = best;
    choice[k] = pick;
    return best;
  };

  const build = (a: number, b: number, m: number, orig: boolean): Schedule => {
    const c = choice[slot(a, b, m, orig)]!;
    if (c === 0) return { kind: 'single', stage: a };
    if (c === 1) return { kind: 'keep', stage: a, rest: build(a + 1, b, m - kept(a), orig) };
    if (c >= 2 + (b - a)) {
      const j = a + c - 2 - (b - a);
      const right: Schedule =
        j === b - 1
          ? { kind: 'single', stage: j }
          : { kind: 'keep', stage: j, rest: build(j + 1, b, m - kept(j), orig) };
      return { kind: 'split', at: j, drop: true, right, left: build(a, j, m, false) };
    }
    const j = a + c - 2;
    const need = gw && j === b - 1 ? 0 : gw ? 1 : chain.boundary[j]!;
    return { kind: 'split', at: j, right: build(j, b, m - need, orig), left: build(a, j, m, false) };
  };

  return (budget) => {
    const level = Math.min(M, Math.max(0, Math.floor(budget)));
    if (n === 0) return undefined;
    const cost = solve(0, n, level, true);
    if (!Number.isFinite(cost)) return undefined;
    return { cost, schedule: build(0, n, level, true) };
  };
}

/** Griewank's closed form (Revolve): the fewest forward steps to reverse l steps with s slots, the input's included. */
export function griewankOptimum(l: number, s: number): number {
  if (l <= 1) return 0;
  if (s < 1) return Infinity;
  const beta = (s: number, r: number) => binomial(s + r, s);
  let r = 0;
  while (beta(s, r) < l) r++;
  return r * l - beta(s + 1, r - 1);
}

function binomial(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let out = 1;
  for (let i = 1; i <= k; i++) out = (out * (n - k + i)) / i;
  return Math.round(out);
}
