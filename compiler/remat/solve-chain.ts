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

  // Griewank's model on identical stages is Revolve's problem: its closed form is every range's optimum (the test
  // checks it against the table), and a range's split is the first that attains it, as the table would pick
  const closed = gw && uniform;
  const costOf = (a: number, b: number, m: number, orig: boolean): number =>
    closed ? griewankOptimum(b - a, m + 1) : memo[slot(a, b, m, orig)]!;

  /**
   * One step of the table's recursion for the range in `f`: resumes where it stopped and returns the frame of the
   * subproblem it needs first (not in the table yet), or undefined once the range's optimum is in the table. No call
   * stack grows with the chain: the caller keeps the pending ranges in an array.
   */
  // (helpers of `step` live here: it runs once per missing subproblem, millions of times on long chains)
  const known = (x: number, y: number, mm: number, o: boolean) => memo[slot(x, y, mm, o)]!;
  const step = (f: Frame): Frame | undefined => {
    const { a, b, m, orig } = f;
    if (f.phase === 0) {
      if (b - a === 1) {
        // reversing a stage alone reruns its forward unless Griewank's model fuses it, it is the first sweep's or
        // its backward reads nothing
        const stageCost = gw || orig || !needed(a) ? 0 : chain.forward[a]!;
        if (gw || chain.saved[a]! + over(a) <= m) [f.best, f.pick] = [stageCost, 0];
        f.phase = 3;
      } else {
        if (!gw && kept(a) + over(a) <= m) {
          const rest = known(a + 1, b, m - kept(a), orig);
          if (Number.isNaN(rest)) return frame(a + 1, b, m - kept(a), orig);
          const keepCost = orig ? 0 : chain.forward[a]!;
          if (keepCost + rest < f.best) [f.best, f.pick] = [keepCost + rest, 1];
        }
        [f.phase, f.j] = [1, a + 1];
      }
    }
    // advance to boundary j, store it, reverse [j, b), then [a, j)
    for (; f.phase === 1 && f.j < b; f.j++) {
      const j = f.j;
      const need = gw && j === b - 1 ? 0 : gw ? 1 : chain.boundary[j]!;
      if (need > m) continue;
      const adv = gw || !orig ? advance(a, j) : 0;
      if (adv >= f.best) break; // advances only grow with j
      const right = known(j, b, m - need, orig);
      if (Number.isNaN(right)) return frame(j, b, m - need, orig);
      if (adv + right >= f.best) continue;
      const left = known(a, j, m, false);
      if (Number.isNaN(left)) return frame(a, j, m, false);
      if (adv + right + left < f.best) [f.best, f.pick] = [adv + right + left, 2 + (j - a)];
    }
    if (f.phase === 1) [f.phase, f.j] = [gw ? 3 : 2, a + 1];
    // advance to stage j, keep its internals and drop its input at once (its backward does not read it)
    for (; f.phase === 2 && f.j < b; f.j++) {
      const j = f.j;
      const last = j === b - 1;
      if (last && !needed(j)) continue;
      const hold = last ? chain.saved[j]! : kept(j);
      if (hold + Math.max(over(j), chain.boundary[j]!) > m) continue;
      const adv = orig ? 0 : advance(a, j + 1);
      if (adv >= f.best) break;
      const right = last ? 0 : known(j + 1, b, m - hold, orig);
      if (Number.isNaN(right)) return frame(j + 1, b, m - hold, orig);
      if (adv + right >= f.best) continue;
      const left = known(a, j, m, false);
      if (Number.isNaN(left)) return frame(a, j, m, false);
      if (adv + right + left < f.best) [f.best, f.pick] = [adv + right + left, 2 + (b - a) + (j - a)];
    }
    const k = slot(a, b, m, orig);
    memo[k] = f.best;
    choice[k] = f.pick;
    return undefined;
  };

  const solve = (a: number, b: number, m: number, orig: boolean): number => {
    if (closed) return costOf(a, b, m, orig);
    const pending = [frame(a, b, m, orig)];
    while (pending.length) {
      const f = pending[pending.length - 1]!;
      if (!Number.isNaN(memo[slot(f.a, f.b, f.m, f.orig)]!)) {
        pending.pop();
        continue;
      }
      const need = step(f);
      if (need) pending.push(need);
      else pending.pop();
    }
    return costOf(a, b, m, orig);
  };

  /** The table's choice for a range; on Revolve's problem, the first split that attains the closed form. */
  const choiceOf = (a: number, b: number, m: number, orig: boolean): number => {
    if (!closed) return choice[slot(a, b, m, orig)]!;
    if (b - a === 1) return 0;
    const best = costOf(a, b, m, orig);
    for (let j = a + 1; j < b; j++) {
      const need = j === b - 1 ? 0 : 1;
      if (need <= m && advance(a, j) + costOf(j, b, m - need, orig) + costOf(a, j, m, false) === best)
        return 2 + (j - a);
    }
    return NONE;
  };

  /** The schedule of a solved range, built with a worklist (a chain's schedule nests as deep as it is long). */
  const build = (a0: number, b0: number, m0: number, orig0: boolean): Schedule => {
    const root: { s?: Schedule } = {};
    const todo: [number, number, number, boolean, (s: Schedule) => void][] = [[a0, b0, m0, orig0, (s) => (root.s = s)]];
    while (todo.length) {
      const [a, b, m, orig, put] = todo.pop()!;
      const c = choiceOf(a, b, m, orig);
      if (c === 0) put({ kind: 'single', stage: a });
      else if (c === 1) {
        const s: Schedule = { kind: 'keep', stage: a, rest: PENDING };
        put(s);
        todo.push([a + 1, b, m - kept(a), orig, (r) => (s.rest = r)]);
      } else if (c >= 2 + (b - a)) {
        const j = a + c - 2 - (b - a);
        const right: Schedule = j === b - 1 ? { kind: 'single', stage: j } : { kind: 'keep', stage: j, rest: PENDING };
        const s: Schedule = { kind: 'split', at: j, drop: true, right, left: PENDING };
        put(s);
        if (right.kind === 'keep') todo.push([j + 1, b, m - kept(j), orig, (r) => (right.rest = r)]);
        todo.push([a, j, m, false, (l) => (s.left = l)]);
      } else {
        const j = a + c - 2;
        const need = gw && j === b - 1 ? 0 : gw ? 1 : chain.boundary[j]!;
        const s: Schedule = { kind: 'split', at: j, right: PENDING, left: PENDING };
        put(s);
        todo.push([j, b, m - need, orig, (r) => (s.right = r)], [a, j, m, false, (l) => (s.left = l)]);
      }
    }
    return root.s!;
  };

  return (budget) => {
    const level = Math.min(M, Math.max(0, Math.floor(budget)));
    if (n === 0) return undefined;
    const cost = solve(0, n, level, true);
    if (!Number.isFinite(cost)) return undefined;
    return { cost, schedule: build(0, n, level, true) };
  };
}

/** A range's frame, not started (a plain literal: the solver makes one per subproblem, millions on long chains). */
const frame = (a: number, b: number, m: number, orig: boolean): Frame => ({
  a,
  b,
  m,
  orig,
  phase: 0,
  j: 0,
  best: Infinity,
  pick: NONE,
});

/** A range of the table being solved: where its recursion stopped (phase, split j) and the best so far. */
interface Frame {
  a: number;
  b: number;
  m: number;
  orig: boolean;
  phase: number;
  j: number;
  best: number;
  pick: number;
}

/** A child of a schedule node not built yet. */
const PENDING: Schedule = { kind: 'single', stage: -1 };

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
