import { describe, expect, it } from 'vitest';
import type { Schedule } from '../../compiler/remat/schedule.ts';
import { chainSolver, type Chain } from '../../compiler/remat/solve-chain.ts';

/**
 * The chain DP's heterogeneous mode against brute force. Every schedule of a small chain is
 * enumerated and walked here — its recompute (forward costs run again after the first forward
 * pass) and its peak memory beyond the chain's input — and the DP must give, at every memory level,
 * the least recompute of any schedule that fits, with a schedule that walks to exactly what it
 * claims. The walk follows the memory rules schedule.ts documents: a stored boundary is held while
 * the range after it is reversed; a kept stage's internals (and result) while the rest is; a
 * stage's backward needs its internals and its overhead.
 */
interface Walk {
  cost: number;
  peak: number;
}

function walker(c: Chain) {
  const needed = (s: number) => c.needed?.[s] !== false;
  const over = (s: number) => c.overhead?.[s] ?? 0;
  const kept = (s: number) => c.kept?.[s] ?? c.saved[s]!;
  const fwd = (a: number, b: number) => c.forward.slice(a, b).reduce((x, y) => x + y, 0);
  const walk = (s: Schedule, a: number, b: number, first: boolean): Walk => {
    if (s.kind === 'single') return { cost: first || !needed(a) ? 0 : c.forward[a]!, peak: c.saved[a]! + over(a) };
    if (s.kind === 'keep') {
      const rest = walk(s.rest, a + 1, b, first);
      return { cost: (first ? 0 : c.forward[a]!) + rest.cost, peak: kept(a) + Math.max(over(a), rest.peak) };
    }
    const left = walk(s.left, a, s.at, false);
    if (!s.drop) {
      const right = walk(s.right, s.at, b, first);
      const hold = c.boundary[s.at]!;
      return {
        cost: (first ? 0 : fwd(a, s.at)) + right.cost + left.cost,
        peak: Math.max(hold + right.peak, left.peak),
      };
    }
    // advance through stage `at` itself, keep its internals, drop its input
    const j = s.at;
    const last = s.right.kind === 'single';
    const hold = last ? c.saved[j]! : kept(j);
    const rest = s.right.kind === 'keep' ? walk(s.right.rest, j + 1, b, first) : { cost: 0, peak: 0 };
    return {
      cost: (first ? 0 : fwd(a, j + 1)) + rest.cost + left.cost,
      peak: Math.max(hold + Math.max(over(j), c.boundary[j]!), hold + rest.peak, left.peak),
    };
  };
  return walk;
}

/** Every schedule of stages [a, b). */
function schedules(c: Chain, a: number, b: number): Schedule[] {
  if (b - a === 1) return [{ kind: 'single', stage: a }];
  const out: Schedule[] = schedules(c, a + 1, b).map((rest) => ({ kind: 'keep', stage: a, rest }));
  for (let j = a + 1; j < b; j++) {
    const lefts = schedules(c, a, j);
    for (const right of schedules(c, j, b)) for (const left of lefts) out.push({ kind: 'split', at: j, right, left });
    if (j === b - 1 && c.needed?.[j] === false) continue;
    const rights: Schedule[] =
      j === b - 1
        ? [{ kind: 'single', stage: j }]
        : schedules(c, j + 1, b).map((rest) => ({ kind: 'keep', stage: j, rest }));
    for (const right of rights) for (const left of lefts) out.push({ kind: 'split', at: j, drop: true, right, left });
  }
  return out;
}

function randomChain(seed: number, n: number): Chain {
  let s = seed;
  const r = (k: number) => ((s = (s * 1103515245 + 12345) % 2147483648), s % k);
  return {
    forward: Array.from({ length: n }, () => 1 + r(9)),
    boundary: Array.from({ length: n }, (_, i) => (i ? 1 + r(4) : 0)),
    saved: Array.from({ length: n }, () => r(6)),
    needed: Array.from({ length: n }, () => r(4) !== 0),
    overhead: Array.from({ length: n }, () => r(3)),
    kept: Array.from({ length: n }, () => r(7)),
  };
}

describe('the chain DP on heterogeneous chains, against every schedule', () => {
  it('40 random chains of 2 to 5 stages, every memory level: the least recompute that fits, walked exactly', () => {
    let checked = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const c = randomChain(seed, 2 + (seed % 4));
      const n = c.forward.length;
      const walk = walker(c);
      const all = schedules(c, 0, n).map((s) => ({ s, ...walk(s, 0, n, true) }));
      const top = Math.max(...all.map((w) => w.peak));
      const solve = chainSolver(c, top);
      for (let m = 0; m <= top; m++) {
        const fits = all.filter((w) => w.peak <= m);
        const best = fits.length ? Math.min(...fits.map((w) => w.cost)) : undefined;
        const dp = solve(m);
        expect(dp?.cost, `seed ${seed}, level ${m}`).toBe(best);
        if (!dp) continue;
        const w = walk(dp.schedule, 0, n, true);
        expect(w.cost, `seed ${seed}, level ${m}: the schedule's walked recompute`).toBe(dp.cost);
        expect(w.peak, `seed ${seed}, level ${m}: the schedule's walked peak`).toBeLessThanOrEqual(m);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(200);
  });
});
