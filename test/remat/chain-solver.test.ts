import { describe, expect, it } from 'vitest';
import { actions, griewankCount, recomputedStages } from '../../compiler/remat/schedule.ts';
import { griewankOptimum, solveChain, type Chain } from '../../compiler/remat/solve-chain.ts';
import { everyK } from '../../compiler/remat/policies.ts';

const uniform = (l: number): Chain => ({
  forward: new Array<number>(l).fill(1),
  boundary: new Array<number>(l).fill(1),
  saved: new Array<number>(l).fill(0),
});

describe('chain solver', () => {
  it("reaches Griewank's optimum: l=10, s=2 → 20 forward steps; l=20, s=3 → 45", () => {
    expect(solveChain(uniform(10), 1, { griewank: true })!.cost).toBe(20);
    expect(solveChain(uniform(20), 2, { griewank: true })!.cost).toBe(45);
    expect(griewankOptimum(10, 2)).toBe(20);
    expect(griewankOptimum(20, 3)).toBe(45);
  });

  it(
    'equals the closed form for every l ≤ 80 and s ≤ 10, and ' +
      'its schedules really take that many steps within s slots',
    () => {
      for (let l = 1; l <= 80; l++)
        for (let s = 1; s <= 10; s++) {
          const sol = solveChain(uniform(l), s - 1, { griewank: true });
          expect(sol?.cost, `l=${l} s=${s}`).toBe(griewankOptimum(l, s));
          const sim = griewankCount(sol!.schedule, l);
          expect(sim.steps, `l=${l} s=${s} simulated`).toBe(sol!.cost);
          expect(sim.slots).toBeLessThanOrEqual(s);
          // with a slot fewer the optimum costs more: this schedule must use them all
          if (s > 1 && griewankOptimum(l, s - 1) > sol!.cost) expect(sim.slots, `l=${l} s=${s} slots`).toBe(s);
          expect(sim.reversed).toEqual(Array.from({ length: l }, (_, i) => l - 1 - i));
        }
    },
  );

  it('solves 1,000 uniform stages', () => {
    expect(solveChain(uniform(1000), 9, { griewank: true })!.cost).toBe(griewankOptimum(1000, 10));
  });

  it('Griewank model: the table over every range (not by length alone) equals the closed form, l ≤ 40, s ≤ 8', () => {
    // identical stages whose memory differs in the first: the same problem in Griewank's model (which counts slots,
    // not sizes), solved by the table rather than by the closed form identical stages take
    for (let l = 1; l <= 40; l++)
      for (let s = 1; s <= 8; s++) {
        const table = solveChain({ ...uniform(l), saved: [1, ...uniform(l).saved.slice(1)] }, s - 1, {
          griewank: true,
        });
        expect(table?.cost, `l=${l} s=${s}`).toBe(griewankOptimum(l, s));
        expect(solveChain(uniform(l), s - 1, { griewank: true })!.schedule, `l=${l} s=${s}`).toEqual(table!.schedule);
      }
  });

  it('10,000 stages with 10 slots (Griewank): the optimum, 57,624 steps, by a schedule that takes them', () => {
    const sol = solveChain(uniform(10_000), 9, { griewank: true })!;
    expect(sol.cost).toBe(57_624);
    expect(sol.cost).toBe(griewankOptimum(10_000, 10));
    const sim = griewankCount(sol.schedule, 10_000);
    expect(sim.steps).toBe(sol.cost);
    expect(sim.slots).toBeLessThanOrEqual(10);
    expect(sim.reversed[0]).toBe(9_999);
    expect(sim.reversed.at(-1)).toBe(0);
  });

  it('no call stack as deep as the chain: 6,000 stages kept one inside the next (recursion overflowed)', () => {
    const n = 6000;
    const sol = solveChain(uniform(n), 0)!;
    expect(sol.cost).toBe(0);
    let depth = 0;
    for (let s = sol.schedule; s.kind === 'keep'; s = s.rest) depth++;
    expect(depth).toBe(n - 1);
    expect(actions(sol.schedule, 0, n)).toHaveLength(2 * n);
    expect(recomputedStages(sol.schedule, n).every((c) => c === 0)).toBe(true);
  });

  it(
    'heterogeneous chains: never worse than every(k) at the memory ' +
      'every(k) needs, and zero recompute when everything fits',
    () => {
      const rnd = (k: number) => ((k * 2654435761) % 97) + 1;
      for (let trial = 0; trial < 20; trial++) {
        const n = 4 + (trial % 9);
        const chain: Chain = {
          forward: Array.from({ length: n }, (_, i) => rnd(i + trial * 31)),
          boundary: Array.from({ length: n }, (_, i) => (i ? (rnd(i * 7 + trial) % 9) + 1 : 0)),
          saved: Array.from({ length: n }, (_, i) => (rnd(i * 13 + trial) % 20) + 5),
        };
        const all = chain.saved.reduce((a, x) => a + x, 0);
        expect(solveChain(chain, all)!.cost).toBe(0);
        for (const k of [1, 2, 3]) {
          const policy = everyK(n, k);
          const cost = recomputedStages(policy, n).reduce((a, c, i) => a + c * chain.forward[i]!, 0);
          // memory every(k) needs: stored boundaries plus the largest segment's internals
          const starts = Array.from({ length: Math.ceil(n / k) }, (_, i) => i * k);
          const stored = starts.slice(1).reduce((a, s) => a + chain.boundary[s]!, 0);
          const seg = Math.max(...starts.map((s) => chain.saved.slice(s, s + k).reduce((a, x) => a + x, 0)));
          const sol = solveChain(chain, stored + seg);
          expect(sol, `trial ${trial} k=${k}`).toBeDefined();
          expect(sol!.cost).toBeLessThanOrEqual(cost);
        }
      }
    },
  );

  it('returns nothing when no schedule fits', () => {
    expect(solveChain({ forward: [1, 1], boundary: [0, 5], saved: [10, 10] }, 9)).toBeUndefined();
  });
});
