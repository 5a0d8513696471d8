import { expect } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule, runRanks, type StepResult, type Tensors } from '../../compiler/interp/interpret.ts';
import {
  dataGroups,
  dataIndex,
  pipeIndex,
  rankCount,
  rankGroups,
  type RankLayout,
  shardIndex,
  shardParams,
  shardSlice,
  sliceOf,
} from '../../compiler/interp/ranks.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { stagesOf } from '../../compiler/ir/stages.ts';
import type { Module, Value } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { type ShardGroup, shardOf, wholeShape } from '../../compiler/passes/partition-tensor.ts';
import { relErr } from '../helpers/oracle.ts';

/** Which slice a rank holds of a leaf split over `group` (its tensor index, or its share of the experts). */
export type At = (rank: number, group: ShardGroup) => number;

/** What rank `k` holds of the one device's tensor `w` of leaf `v` (a slice, or all of it). */
const heldOf = (v: Value, w: NDArray, k: number, at: At): NDArray => {
  const s = shardOf(v);
  return s ? shardSlice(w, s, at(k, s.group)) : w;
};

/** Whether rank `k` holds leaf `v` (every rank, unless a pipeline gives each stage's leaves to its ranks). */
export type Holds = (k: number, v: Value) => boolean;

/**
 * Each rank's gradients (`grad:` outputs) against the one device's, sliced where the rank holds a slice; each
 * gradient is some rank's.
 */
export function expectGradients(
  r: Module,
  got: StepResult[],
  want: Map<string, NDArray>,
  at: At,
  what: string,
  holds: Holds = () => true,
) {
  const seen = new Set<string>();
  for (const [k, g] of got.entries())
    for (const o of r.outputs) {
      if (!o.name.startsWith('grad:')) continue;
      const p = r.values.find((v) => v.op === 'param' && v.attrs['name'] === o.name.slice(5))!;
      if (!holds(k, p)) continue;
      seen.add(o.name);
      const expected = heldOf(p, want.get(o.name)!, k, at);
      expect(relErr(g.outputs.get(o.name)!.data, expected.data), `${what} rank ${k} ${o.name}`).toBeLessThan(1e-5);
    }
  expect(seen.size, `${what}: gradients checked`).toBe(r.outputs.filter((o) => o.name.startsWith('grad:')).length);
}

/**
 * Each rank's leaves of kind `ops` against the one device's (`whole`), sliced where the rank holds a slice; each leaf
 * is held by some rank, and only by those `holds` says.
 */
export function expectHeld(
  r: Module,
  ranks: { params: Map<string, NDArray> }[],
  whole: Map<string, NDArray>,
  at: At,
  what: string,
  ops: readonly string[] = ['param'],
  tolerance = 1e-5,
  holds: Holds = () => true,
  only: (v: Value) => boolean = () => true,
) {
  const seen = new Set<string>();
  const checked = (v: Value) => ops.includes(v.op) && only(v);
  for (const [k, rank] of ranks.entries())
    for (const v of r.values) {
      if (!checked(v)) continue;
      const name = String(v.attrs['name']);
      expect(rank.params.has(name), `${what} rank ${k} holds ${name}`).toBe(holds(k, v));
      if (!holds(k, v)) continue;
      seen.add(name);
      const expected = heldOf(v, whole.get(name)!, k, at);
      expect(relErr(rank.params.get(name)!.data, expected.data), `${what} rank ${k} ${name}`).toBeLessThan(tolerance);
    }
  expect(seen.size, `${what}: leaves checked`).toBe(r.values.filter(checked).length);
}

/** `whole` with the partitioned program's gradient accumulators, zero (one device on the whole batch has none). */
export function withAccumulators(r: Module, whole: Map<string, NDArray>): Map<string, NDArray> {
  for (const v of r.values)
    if (v.op === 'state' && !whole.has(String(v.attrs['name']))) {
      const shape = wholeShape(v);
      whole.set(String(v.attrs['name']), { data: new Float32Array(shape.reduce((a, d) => a * d, 1)), shape });
    }
  return whole;
}

/**
 * A partitioned plan is right when its ranks (each running its pipeline stage's part of the program and sending what
 * the next stage reads, its tensor slice, its share of the experts) compute what one device does on the whole batch:
 * each replica's micro-batches are rows of it, the accumulated update is the one device's, and every rank's parameters
 * (and optimizer state) after each step are the one device's, sliced where the plan splits them; with one micro-batch
 * a step, every gradient too.
 */
export function expectSameSteps(file: string, onePlan: string, plan: string, layout: RankLayout, steps = 3): Module {
  const one = compile(file, onePlan);
  const par = compile(file, plan);
  expect(one.diagnostics).toEqual([]);
  expect(par.diagnostics).toEqual([]);
  const m = one.module!;
  const r = par.module!;
  const st = stagesOf(r);
  const pipes = st?.pipeline ?? 1;
  expect(pipes).toBe(layout.pipeline ?? 1);
  const n = rankCount(layout);
  const holds = (k: number, v: Value) => !st || st.stage.get(v)! % pipes === pipeIndex(layout, k);
  const at: At = (q, group) => shardIndex(layout, q, group);
  const session = new CpuSession(m, { seed: 0, graphs: graphResolver(one.program) });
  const whole = session.params;
  const own = new Set(whole.keys());
  withAccumulators(r, whole);
  const ranks = [...Array(n).keys()].map((k) => ({
    feeds: new Map() as Tensors,
    params: shardParams(r, whole, layout, k),
  }));
  const micro = r.values.find((v) => v.op === 'input' && v.attrs['name'] !== 'step' && !v.attrs['feed'])!;
  const rows = micro.type.shape[0] as number;
  const batch = m.values.find((v) => v.op === 'input' && v.attrs['name'] === micro.attrs['name'])!.type
    .shape[0] as number;
  const data = layout.data ?? 1;
  const k = batch / (rows * data); // micro-batches a step on each replica
  const runner = new CpuSession(r, { seed: 0, graphs: graphResolver(par.program) });
  for (let step = 1; step <= steps; step++) {
    const feeds = session.feeds(m, step);
    const outs = runModule(m, feeds, whole, { step }).outputs;
    let loss = 0;
    for (let j = 0; j < k; j++) {
      const run = (step - 1) * k + j + 1;
      const counters = runner.feeds(r, run); // the step counter and the last-micro-batch flag
      for (const [rank, x] of ranks.entries()) {
        // replica d's micro-batch j: rows (d · k + j) · rows … of the whole batch
        const part = dataIndex(layout, rank) * k + j;
        x.feeds = new Map(
          [...counters].map(([name, t]) => [
            name,
            feeds.has(name) && t.shape.length ? sliceOf(feeds.get(name)!, 0, batch / rows, part) : t,
          ]),
        );
      }
      const got = runRanks(r, ranks, rankGroups(layout), { step: run, dataGroups: dataGroups(layout), layout });
      // the loss lives on the last stage's ranks: every tensor rank of each replica has it
      const last = got.filter((_, q) => pipeIndex(layout, q) === pipes - 1);
      expect(last.length).toBe(layout.tensor * data);
      for (const g of last) loss += g.outputs.get('loss')!.data[0]! / (last.length * k);
      for (const [q, g] of got.entries())
        if (pipeIndex(layout, q) !== pipes - 1) expect(g.outputs.has('loss')).toBe(false);
      if (k === 1) expectGradients(r, got, outs, at, `step ${step}`, holds);
    }
    const want = outs.get('loss')!.data[0]!;
    expect(Math.abs(loss - want) / Math.abs(want), `step ${step} loss`).toBeLessThan(1e-5);
    expectHeld(r, ranks, whole, at, `step ${step}`, ['param', 'state'], 1e-5, holds, (v) =>
      own.has(String(v.attrs['name'])),
    );
  }
  return r;
}
