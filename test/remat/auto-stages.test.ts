import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { deadCodeEliminate } from '../../compiler/ir/graph.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import { greedySchedule, residentSchedule } from '../../compiler/remat/auto-stages.ts';
import { peakWithout } from '../../compiler/remat/replay.ts';
import type { Rewritten } from '../../compiler/remat/emit.ts';
import { checkmateMeasure } from '../reference/solve-dag.ts';
import { solveGreedy } from '../../compiler/remat/solve-greedy.ts';
import { type ResidentSolution, solveResidentSets } from '../../compiler/remat/solve-resident.ts';
import { trainingGraph } from '../../compiler/remat/training-graph.ts';
import { once } from '../helpers/once.ts';

/**
 * The stage solvers on a step (auto-stages.ts): each schedule rewritten into IR and measured there. Measured here in
 * Checkmate's model (replayed), exactly or with an overhead the solvers' model does not see (as the arena's
 * alignment is), so what each answer should be is known.
 */
const STEP = deadCodeEliminate(parseModule(readFileSync('test/passes/checkpoint/random-dag-auto.in.ir', 'utf8')));
const LOSS = STEP.outputs.find((o) => o.name === 'loss')!.value;
const { graph, index } = trainingGraph(STEP, LOSS);
const full = peakWithout(graph);
// the DP's least-peak schedule
const leastPeak = once(() => {
  const r = solveResidentSets(graph, 'minimize');
  if (typeof r !== 'object') throw new Error('no schedule');
  return r as ResidentSolution;
});
const replayed = checkmateMeasure(graph, index);

/** Replays the rewritten step's stages; `bytes` of the peak (more than it: what the solvers' model does not count). */
function measuring(bytes = (peak: number) => peak) {
  const calls: number[] = [];
  const measure = (r: Rewritten) => {
    const { cost, bytes: peak } = replayed(r);
    calls.push(bytes(peak));
    return { bytes: bytes(peak), cost };
  };
  return { measure, calls };
}

describe('the resident-set DP on a step', () => {
  it('measured exactly: its optimum at each budget, in one measurement', () => {
    const least = leastPeak();
    for (const f of [0, 0.3]) {
      const budget = Math.round(least.peak + (full - least.peak) * f);
      const { measure, calls } = measuring();
      const r = residentSchedule(STEP, LOSS, budget, measure)!;
      const want = solveResidentSets(graph, budget);
      if (typeof want !== 'object') throw new Error(`budget ${budget}`);
      expect(r.fits).toEqual({ bytes: want.peak, cost: want.recompute });
      expect(calls).toHaveLength(1);
    }
  });

  it('with 16 bytes its model does not see: the model budget is lowered by the excess until the step fits', () => {
    const least = leastPeak();
    // a budget the DP's schedule meets to the byte
    const tight = solveResidentSets(graph, Math.round(least.peak + (full - least.peak) * 0.3));
    if (typeof tight !== 'object') throw new Error('no schedule');
    const budget = tight.peak;
    const { measure, calls } = measuring((peak) => peak + 16);
    const r = residentSchedule(STEP, LOSS, budget, measure)!;
    expect(r.fits!.bytes).toBeLessThanOrEqual(budget);
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.length).toBeLessThanOrEqual(6);
    // each attempt's model budget is the last one's less its excess: the measured bytes fall until they fit
    expect(calls.at(-1)).toBe(r.fits!.bytes);
    expect(calls.slice(0, -1).every((b) => b > budget)).toBe(true);
  });

  it('never fitting: it stops after 6 attempts, and its least is its least-peak schedule measured', () => {
    const least = leastPeak();
    // every schedule measures a byte over the budget
    const budget = least.peak + 256;
    const { measure, calls } = measuring((peak) => Math.max(peak, budget) + 1);
    const r = residentSchedule(STEP, LOSS, budget, measure)!;
    expect(r.fits).toBeUndefined();
    expect(calls).toEqual(Array(6).fill(budget + 1));
    expect(r.smallest!(Infinity)).toEqual({ bytes: budget + 1, cost: least.recompute });
    // below its least budget the DP has nothing to offer
    const below = measuring();
    const none = residentSchedule(STEP, LOSS, least.peak - 1, below.measure)!;
    expect(none.fits).toBeUndefined();
    expect(below.calls).toHaveLength(0);
    expect(none.smallest!(Infinity)!.bytes).toBe(least.peak);
  });
});

describe('the greedy on a step', () => {
  it('measured exactly: its answer at each budget', () => {
    const least = leastPeak();
    for (const f of [0.2, 0.6, 1]) {
      const budget = Math.round(least.peak + (full - least.peak) * f);
      const want = solveGreedy(graph, budget);
      if (typeof want !== 'object') continue;
      const r = greedySchedule(STEP, LOSS, budget, measuring().measure)!;
      expect(r.fits).toEqual({ bytes: want.peak, cost: want.recompute });
    }
  });

  it('a budget it cannot meet: its least is searched below the least another solver meets', () => {
    const least = leastPeak();
    const r = greedySchedule(STEP, LOSS, graph.leafBytes, measuring().measure)!;
    expect(r.fits).toBeUndefined();
    // nothing below the resident DP's least: the greedy is a subset of its schedules
    expect(r.smallest!(least.peak)).toBeUndefined();
    const found = r.smallest!(full + 1)!;
    expect(found.bytes).toBeLessThanOrEqual(full);
    expect(found.bytes).toBeGreaterThanOrEqual(least.peak);
    // asked to beat what it found, it finds nothing
    expect(r.smallest!(found.bytes)).toBeUndefined();
  });
});

describe('the stage solvers on a step beyond their limits', () => {
  it('GPT tiny (more activations than a resident set holds): the resident DP gives up: undefined', () => {
    const gpt = deadCodeEliminate(parseModule(readFileSync('test/passes/checkpoint/gpt-tiny-all.in.ir', 'utf8')));
    const loss = gpt.outputs.find((o) => o.name === 'loss')!.value;
    let measured = 0;
    const measure = () => ({ bytes: ++measured, cost: 0 });
    expect(residentSchedule(gpt, loss, 1e12, measure)).toBeUndefined();
    expect(measured).toBe(0);
  });
});
