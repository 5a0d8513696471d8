import { describe, expect, it } from 'vitest';
import type { Value } from '../../compiler/ir/graph.ts';
import { autoSchedule, chainOf } from '../../compiler/remat/auto.ts';
import { everyK } from '../../compiler/remat/policies.ts';
import type { Schedule } from '../../compiler/remat/schedule.ts';
import { chainSolver, type Chain } from '../../compiler/remat/solve-chain.ts';
import type { Stages } from '../../compiler/remat/stages.ts';
import { randomChain, schedules, walker } from '../helpers/chain-walk.ts';

/**
 * The fast solver's search (autoSchedule) on its own: stages built here from a chain of value counts (every value
 * 256 bytes), schedules measured by walking them by hand (test/helpers/chain-walk.ts) or by a measure that
 * disagrees with the solver's model, and every measurement recorded.
 */
let nextId = 0;
const value = (): Value => ({ id: nextId++, op: 'relu', inputs: [], attrs: {}, type: { dtype: 'f32', shape: [64] } });
const values = (k: number) => Array.from({ length: k }, value);

/**
 * Stages whose chain (chainOf at 256 bytes a unit) is `c`, with `pad` values in the chain's input (boundary[0]: held
 * throughout, read by no solver) so the search's own unit divides 256 bytes and its model is `c` scaled exactly.
 * Each stage has one internal value besides its saved ones and the next stage's input.
 */
function stagesOf(c: Chain, pad = 0): Stages {
  const boundary = c.boundary.map((b, i) => values(i === 0 ? pad : b));
  const saved = c.saved.map(values);
  return {
    lossIndex: 0,
    constants: new Set(),
    stageOf: new Map(),
    members: saved.map((s, k) => [...values(1), ...s, ...(boundary[k + 1] ?? [])]),
    boundary,
    saved,
    cost: c.forward,
    overhead: c.overhead!.map((o) => o * 256),
  };
}

/** A random chain as stages of 64 values in all (so the search's unit is 64 bytes: 4 a value). */
function randomStages(seed: number, n: number) {
  const c = randomChain(seed, n);
  const used = [...c.saved, ...c.boundary.slice(1)].reduce((a, x) => a + x, 0) + Math.max(0, ...c.overhead!);
  const st = stagesOf(c, 64 - used);
  return { st, model: chainOf(st, 256), n };
}

/** A measure that walks each schedule in `model` and records what it measured. */
function walking(model: Chain, n: number, extra: (s: Schedule) => number = () => 0) {
  const walk = walker(model);
  const seen: { key: string; bytes: number; cost: number }[] = [];
  const measure = (s: Schedule) => {
    const w = walk(s, 0, n, true);
    const r = { bytes: (w.peak + extra(s)) * 256, cost: w.cost };
    seen.push({ key: JSON.stringify(s), ...r });
    return r;
  };
  return { measure, seen };
}

describe('chainOf: the chain the solver sees', () => {
  it('sizes in units rounded up, a stage kept as its saved values and the next input (each counted once)', () => {
    const [a, b, c, d, e] = values(5);
    const shared = value();
    const st: Stages = {
      lossIndex: 0,
      constants: new Set(),
      stageOf: new Map(),
      members: [[a!, shared], [b!, c!, d!], [e!]],
      boundary: [[], [shared], [c!, d!]],
      saved: [[shared], [b!, c!], []],
      cost: [3, 5, 7],
      overhead: [0, 301, 1024],
    };
    expect(chainOf(st, 256)).toEqual({
      forward: [3, 5, 7],
      boundary: [0, 1, 2],
      saved: [1, 2, 0],
      needed: [true, true, false],
      overhead: [0, 2, 4],
      kept: [1, 3, 0],
    });
    // 256 bytes in units of 100: 3; 512: 6 (not 2 × 3); 301 bytes: 4
    expect(chainOf(st, 100)).toMatchObject({
      boundary: [0, 3, 6],
      saved: [3, 6, 0],
      overhead: [0, 4, 11],
      kept: [3, 8, 0],
    });
  });
});

describe('autoSchedule against every schedule of small chains', () => {
  it('40 random chains of 2 to 5 stages, every budget: the least recompute that fits, or the least that works', () => {
    let checked = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const { st, model, n } = randomStages(seed, 2 + (seed % 4));
      const walk = walker(model);
      const all = schedules(model, 0, n).map((s) => walk(s, 0, n, true));
      const least = Math.min(...all.map((w) => w.peak)) * 256;
      const budgets = [...new Set(all.flatMap((w) => [w.peak * 256, w.peak * 256 - 1]))];
      for (const budget of budgets) {
        const fitting = all.filter((w) => w.peak * 256 <= budget);
        const best = fitting.length ? Math.min(...fitting.map((w) => w.cost)) : undefined;
        const { measure, seen } = walking(model, n);
        const r = autoSchedule(st, budget, measure);
        const at = `seed ${seed}, budget ${budget}`;
        expect(r.fits?.cost, at).toBe(best);
        if (r.fits) expect(r.fits.bytes, at).toBeLessThanOrEqual(budget);
        else expect(r.smallest, at).toBe(least);
        expect(r.smallest, at).toBe(Math.min(...seen.map((x) => x.bytes)));
        // each schedule measured once
        expect(new Set(seen.map((x) => x.key)).size, at).toBe(seen.length);

        // checking whether the budget can be kept: the binary search's first fit, in at most 9 measurements
        const first = walking(model, n);
        const f = autoSchedule(st, budget, first.measure, true);
        expect(f.fits !== undefined, at).toBe(best !== undefined);
        if (f.fits) {
          expect(f.fits.bytes).toBeLessThanOrEqual(budget);
          expect(f.fits.cost).toBeGreaterThanOrEqual(best!);
          expect(first.seen.length).toBeLessThanOrEqual(9);
          expect(f.smallest).toBe(Math.min(...first.seen.map((x) => x.bytes)));
        } else expect(f.smallest).toBe(least);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(400);
  });

  it('a measure that disagrees with the solver: the cheapest fit of what it measured, every(k) among them', () => {
    let fixedWins = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const { st, model, n } = randomStages(seed, 3 + (seed % 3));
      const fixed = new Set(Array.from({ length: n }, (_, k) => JSON.stringify(everyK(n, k + 1))));
      // the solver's schedules measure 3 values more than they walk; every(k)'s as they walk
      const extra = (s: Schedule) => (fixed.has(JSON.stringify(s)) ? 0 : 3);
      const walk = walker(model);
      for (const k of [1, 2, n]) {
        const budget = walk(everyK(n, k), 0, n, true).peak * 256;
        const { measure, seen } = walking(model, n, extra);
        const r = autoSchedule(st, budget, measure);
        const fitting = seen.filter((x) => x.bytes <= budget);
        expect(r.fits?.cost, `seed ${seed}, every(${k})`).toBe(Math.min(...fitting.map((x) => x.cost)));
        for (const key of fixed) expect(seen.some((x) => x.key === key)).toBe(true);
        if (fitting.every((x) => fixed.has(x.key))) fixedWins++;
      }
    }
    expect(fixedWins).toBeGreaterThan(20);
  });

  it('with no fit, the schedule of the solver’s lowest memory level is measured: the least that works', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const { st, model, n } = randomStages(seed, 2 + (seed % 4));
      // the search's own chain is the model scaled by 4 (64-byte units)
      const scaled = chainOf(st, 64);
      const top = [...scaled.saved, ...scaled.boundary].reduce((a, x) => a + x, 0) + Math.max(...scaled.overhead!);
      const solve = chainSolver(scaled, top);
      let level = 0;
      while (!solve(level)) level++;
      const lowest = JSON.stringify(solve(level)!.schedule);
      const { measure, seen } = walking(model, n, (s) => (JSON.stringify(s) === lowest ? 0 : 1000));
      const r = autoSchedule(st, 0, measure);
      expect(r.fits).toBeUndefined();
      expect(seen.map((x) => x.key)).toContain(lowest);
      expect(r.smallest, `seed ${seed}`).toBe(walker(model)(solve(level)!.schedule, 0, n, true).peak * 256);
    }
  });
});

describe('autoSchedule on long chains: how many schedules it measures', () => {
  const uniform = (n: number): Chain => ({
    forward: Array(n).fill(1),
    boundary: Array.from({ length: n }, (_, i) => (i ? 1 : 0)),
    saved: Array(n).fill(2),
    overhead: Array(n).fill(0),
  });
  const everyMeasured = (n: number, seen: { key: string }[]) => {
    const keys = new Set(seen.map((x) => x.key));
    return Array.from({ length: n }, (_, k) => k + 1).filter((k) => keys.has(JSON.stringify(everyK(n, k))));
  };

  it('up to 64 stages every(k) for every k; beyond, 1, 2, √n and the powers of 2 below n', () => {
    for (const n of [12, 64]) {
      const { measure, seen } = walking(chainOf(stagesOf(uniform(n)), 256), n);
      autoSchedule(stagesOf(uniform(n)), 0, measure);
      expect(everyMeasured(n, seen)).toEqual(Array.from({ length: n }, (_, k) => k + 1));
    }
    for (const [n, ks] of [
      [65, [1, 2, 4, 8, 16, 32, 64]],
      [90, [1, 2, 4, 8, 9, 16, 32, 64]],
    ] as const) {
      const st = stagesOf(uniform(n));
      const { measure, seen } = walking(chainOf(st, 256), n);
      const r = autoSchedule(st, 0, measure);
      expect(r.fits).toBeUndefined();
      const measured = everyMeasured(n, seen);
      for (const k of ks) expect(measured, `n = ${n}`).toContain(k);
      // a few others only where the solver's own schedule is every(k)'s
      expect(measured.length, `n = ${n}`).toBeLessThan(ks.length + 5);
      // a binary search over at most 257 levels, 64 of the cheapest, the fixed policies, 8 of the lowest levels
      expect(seen.length).toBeLessThanOrEqual(9 + 64 + ks.length + 8);
      expect(seen.length).toBeGreaterThan(64);
    }
  });

  it(
    'on a chain longer than 64 stages, every(k) at its own memory: no fixed policy is cheaper than the answer, k ' +
      'not a power of 2 included',
    () => {
      const n = 80;
      const st = stagesOf(uniform(n));
      const model = chainOf(st, 256);
      const everyKeys = new Map(Array.from({ length: n }, (_, k) => [JSON.stringify(everyK(n, k + 1)), k + 1]));
      // only every(k) schedules fit at all: the search among them is what is tested
      const { measure } = walking(model, n, (s) => (everyKeys.has(JSON.stringify(s)) ? 0 : 1e9));
      const walk = walker(model);
      for (const k of [3, 5, 6, 7]) {
        const budget = walk(everyK(n, k), 0, n, true).peak * 256;
        const best = Math.min(
          ...[...everyKeys.values()].flatMap((j) => {
            const w = walk(everyK(n, j), 0, n, true);
            return w.peak * 256 <= budget ? [w.cost] : [];
          }),
        );
        const r = autoSchedule(st, budget, measure);
        expect(r.fits!.bytes).toBeLessThanOrEqual(budget);
        expect(r.fits!.cost, `at every(${k})'s peak`).toBeLessThanOrEqual(best);
      }
    },
  );

  it(
    'with a fit: the binary search and at most 9 more of the solver’s schedules, the fixed policies, and a search ' +
      'for the cheapest every(k) that fits',
    () => {
      const n = 80;
      const st = stagesOf(uniform(n));
      const model = chainOf(st, 256);
      // none of the solver's schedules fits, but for the binary search's: what fits is measured in cost order
      const { measure, seen } = walking(model, n);
      const budget = walker(model)(everyK(n, 9), 0, n, true).peak * 256;
      const r = autoSchedule(st, budget, measure);
      expect(r.fits!.bytes).toBeLessThanOrEqual(budget);
      expect(seen.length).toBeLessThan(9 + 64 + 8);
      // every(k) schedules: 1, 2, √n and the powers of 2, and the search for the cheapest every(k) that fits
      const fixed = new Set(Array.from({ length: n }, (_, k) => JSON.stringify(everyK(n, k + 1))));
      expect(seen.filter((x) => fixed.has(x.key)).length).toBeLessThanOrEqual(8 + 7);
      const solver = seen.filter((x) => !fixed.has(x.key));
      expect(solver.length).toBeLessThanOrEqual(9 + 9);
    },
  );
});
