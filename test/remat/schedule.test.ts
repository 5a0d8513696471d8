import { describe, expect, it } from 'vitest';
import { everyK, keepAll } from '../../compiler/remat/policies.ts';
import { actions, recomputedStages, type Schedule } from '../../compiler/remat/schedule.ts';

/** A schedule tree as the actions it runs, written out by hand from the tree's definition (schedule.ts). */
const single = (stage: number): Schedule => ({ kind: 'single', stage });
const keep = (stage: number, rest: Schedule): Schedule => ({ kind: 'keep', stage, rest });
const show = (s: Schedule, a: number, b: number) =>
  actions(s, a, b).map((x) =>
    x.op === 'advance'
      ? `advance ${x.from}→${x.to}`
      : x.op === 'forward'
        ? `forward ${x.stage}${x.keep ? '' : ' (drop)'}`
        : x.op === 'backward'
          ? `backward ${x.stage}`
          : `${x.op} ${x.boundary}`,
  );

describe('schedule actions', () => {
  it('single: materialise the stage, then its backward', () => {
    expect(show(single(2), 2, 3)).toEqual(['forward 2', 'backward 2']);
  });

  it('keep: the stage stays materialised while the rest is reversed', () => {
    expect(show(keep(0, single(1)), 0, 2)).toEqual(['forward 0', 'forward 1', 'backward 1', 'backward 0']);
    expect(show(keepAll(0, 3), 0, 3)).toEqual([
      'forward 0',
      'forward 1',
      'forward 2',
      'backward 2',
      'backward 1',
      'backward 0',
    ]);
  });

  it('split: advance to the cut, store it, reverse the right, free it, reverse the left', () => {
    const s: Schedule = { kind: 'split', at: 2, right: single(2), left: keep(0, single(1)) };
    expect(show(s, 0, 3)).toEqual([
      'advance 0→2',
      'store 2',
      'forward 2',
      'backward 2',
      'free 2',
      'forward 0',
      'forward 1',
      'backward 1',
      'backward 0',
    ]);
  });

  it('split with drop: the cut is freed as soon as its stage is materialised', () => {
    const s: Schedule = { kind: 'split', at: 1, drop: true, right: keep(1, single(2)), left: single(0) };
    expect(show(s, 0, 3)).toEqual([
      'advance 0→1',
      'store 1',
      'forward 1',
      'free 1',
      'forward 2',
      'backward 2',
      'backward 1',
      'forward 0',
      'backward 0',
    ]);
    // a single on the right: nothing after the stage to reverse
    const t: Schedule = { kind: 'split', at: 2, drop: true, right: single(2), left: keep(0, single(1)) };
    expect(show(t, 0, 3).slice(0, 6)).toEqual([
      'advance 0→2',
      'store 2',
      'forward 2',
      'free 2',
      'backward 2',
      'forward 0',
    ]);
  });

  it('every(k): each segment but the last advanced through once, then reversed keeping its stages', () => {
    expect(show(everyK(4, 2), 0, 4)).toEqual([
      'advance 0→2',
      'store 2',
      'forward 2',
      'forward 3',
      'backward 3',
      'backward 2',
      'free 2',
      'forward 0',
      'forward 1',
      'backward 1',
      'backward 0',
    ]);
  });
});

describe('recomputedStages', () => {
  it('counts the forwards run after the first sweep, with multiplicity', () => {
    // the first sweep computes the rightmost path anyway: keepAll recomputes nothing
    expect(recomputedStages(keepAll(0, 4), 4)).toEqual([0, 0, 0, 0]);
    // every(2): the left segment is materialised again
    expect(recomputedStages(everyK(4, 2), 4)).toEqual([1, 1, 0, 0]);
    // every(1) on 3 stages: stage 0 is run again to reach cut 1 and materialised, stage 1 likewise
    expect(recomputedStages(everyK(3, 1), 3)).toEqual([1, 1, 0]);
    // a split inside a recomputed range advances through its left part again: stage 0 counted twice
    const nested: Schedule = {
      kind: 'split',
      at: 3,
      right: single(3),
      left: { kind: 'split', at: 1, right: keep(1, single(2)), left: single(0) },
    };
    expect(recomputedStages(nested, 4)).toEqual([2, 1, 1, 0]);
  });
});
