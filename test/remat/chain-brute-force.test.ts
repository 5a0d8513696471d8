import { describe, expect, it } from 'vitest';
import { chainSolver } from '../../compiler/remat/solve-chain.ts';
import { randomChain, schedules, walker } from '../helpers/chain-walk.ts';

/**
 * The chain DP's heterogeneous mode against brute force. Every schedule of a small chain is
 * enumerated and walked (test/helpers/chain-walk.ts), and the DP must give, at every memory level,
 * the least recompute of any schedule that fits, with a schedule that walks to exactly what it
 * claims.
 */
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
