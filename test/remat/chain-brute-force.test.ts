import { describe, expect, it } from 'vitest';
import { chainSolver, type Chain } from '../../compiler/remat/solve-chain.ts';
import { randomChain, schedules, walker } from '../helpers/chain-walk.ts';

/**
 * The chain DP's heterogeneous mode against brute force. Every schedule of a small chain is
 * enumerated and walked (test/helpers/chain-walk.ts), and the DP must give, at every memory level,
 * the least recompute of any schedule that fits, with a schedule that walks to exactly what it
 * claims.
 */
/** At every memory level: the DP's recompute is the least of any schedule that fits, and its schedule walks to it. */
function expectOptimal(c: Chain, what: string): number {
  const n = c.forward.length;
  const walk = walker(c);
  const all = schedules(c, 0, n).map((s) => ({ s, ...walk(s, 0, n, true) }));
  const top = Math.max(...all.map((w) => w.peak));
  const solve = chainSolver(c, top);
  let checked = 0;
  for (let m = 0; m <= top; m++) {
    const fits = all.filter((w) => w.peak <= m);
    const best = fits.length ? Math.min(...fits.map((w) => w.cost)) : undefined;
    const dp = solve(m);
    expect(dp?.cost, `${what}, level ${m}`).toBe(best);
    if (!dp) continue;
    const w = walk(dp.schedule, 0, n, true);
    expect(w.cost, `${what}, level ${m}: the schedule's walked recompute`).toBe(dp.cost);
    expect(w.peak, `${what}, level ${m}: the schedule's walked peak`).toBeLessThanOrEqual(m);
    checked++;
  }
  return checked;
}

describe('the chain DP on heterogeneous chains, against every schedule', () => {
  it('40 random chains of 2 to 5 stages, every memory level: the least recompute that fits, walked exactly', () => {
    let checked = 0;
    for (let seed = 1; seed <= 40; seed++) checked += expectOptimal(randomChain(seed, 2 + (seed % 4)), `seed ${seed}`);
    expect(checked).toBeGreaterThan(200);
  });

  it('chains uniform but in one field (not the homogeneous case, which has its own solver)', () => {
    const n = 5;
    const uniform: Chain = {
      forward: Array(n).fill(2),
      boundary: [0, ...Array(n - 1).fill(2)],
      saved: Array(n).fill(3),
      needed: Array(n).fill(true),
      overhead: Array(n).fill(1),
      kept: Array(n).fill(4),
    };
    const varied: [keyof Chain, unknown[]][] = [
      ['forward', [2, 5, 1, 2, 7]],
      ['boundary', [0, 2, 5, 1, 2]],
      ['saved', [3, 1, 6, 3, 2]],
      ['needed', [true, false, true, true, false]],
      ['overhead', [1, 4, 0, 1, 2]],
      ['kept', [4, 1, 7, 4, 2]],
    ];
    for (const [field, values] of varied) expectOptimal({ ...uniform, [field]: values }, `varied ${field}`);
    for (let seed = 1; seed <= 20; seed++) {
      const r = randomChain(seed, n);
      for (const field of ['boundary', 'saved', 'kept', 'overhead'] as const)
        expectOptimal({ ...uniform, [field]: r[field] }, `seed ${seed}, varied ${field}`);
    }
    expectOptimal(uniform, 'uniform');
    // large and small boundaries alternating: ranges of one length differ in what they store
    const alternating = { ...uniform, forward: Array(7).fill(2), saved: Array(7).fill(1), needed: Array(7).fill(true) };
    expectOptimal(
      { ...alternating, boundary: [0, 1, 9, 1, 9, 1, 9], overhead: Array(7).fill(0), kept: Array(7).fill(1) },
      'alternating boundaries',
    );
  });
});
