import type { Schedule } from '../../compiler/remat/schedule.ts';
import type { Chain } from '../../compiler/remat/solve-chain.ts';

/**
 * A chain schedule walked by hand, for the solvers' brute-force tests: its recompute (forward costs
 * run again after the first forward pass) and its peak memory beyond the chain's input, by the
 * memory rules schedule.ts documents: a stored boundary is held while the range after it is
 * reversed; a kept stage's internals (and result) while the rest is; a stage's backward needs its
 * internals and its overhead.
 */
export interface Walk {
  cost: number;
  peak: number;
}

export function walker(c: Chain) {
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
export function schedules(c: Chain, a: number, b: number): Schedule[] {
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

export function randomChain(seed: number, n: number): Chain {
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
