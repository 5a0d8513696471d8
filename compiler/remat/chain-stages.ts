import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { applyStageSchedule, type Rewritten } from './emit.ts';
import { actions, type Schedule } from './schedule.ts';
import type { Stages } from './stages.ts';
import { trainingGraph, type StageSchedule, type TrainingGraph } from './training-graph.ts';

/**
 * A chain schedule (the chain DP's answer over `st`'s stages, or a fixed policy's) as a schedule in Checkmate's
 * stages over the step's ops (`index`: trainingGraph's), which the one emitter writes into the step: the forward
 * pass runs as it is; backward ops run in their order, and the first time one reads a forward value of stage k that
 * is not held, the schedule's actions up to materializing stage k run before it — each recomputation listed in that
 * op's stage. A read the schedule did not foresee recomputes from the nearest held boundary, so the result is always
 * correct. Outputs are never recomputed (the original is held to the end).
 */
export function chainStages(m: Module, st: Stages, schedule: Schedule, index: Map<Value, number>): StageSchedule {
  const n = st.members.length;
  const acts = actions(schedule, 0, n);
  const firstBackward = acts.findIndex((a) => a.op === 'backward');
  const outputs = new Set(m.outputs.map((o) => o.value));
  const held = new Set<Value>(); // forward values the backward pass can read now, original or recomputed
  // a frontier value stays while a stored boundary holds it or its stage is kept for its backward
  const holds = new Map<Value, number>();
  const kept = new Set<number>();
  const hold = (k: number, d: number) => st.boundary[k]!.forEach((v) => holds.set(v, (holds.get(v) ?? 0) + d));
  let pending: number[] = [];

  /** Recomputes stages from…to-1 from the boundary before `from`; without `keepAll` only the result stays. */
  const recompute = (from: number, to: number, keepAll: boolean) => {
    for (let k = from; k < to; k++)
      for (const v of st.members[k]!) {
        if (!outputs.has(v)) pending.push(index.get(v)!);
        held.add(v);
      }
    if (keepAll) return;
    const next = new Set(st.boundary[to] ?? []);
    for (let k = from; k < to; k++) for (const v of st.members[k]!) if (!next.has(v)) held.delete(v);
  };
  let cursor = 0;
  const run = (a: (typeof acts)[number], original: boolean) => {
    if (a.op === 'advance') {
      if (!original) recompute(a.from, a.to, false);
    } else if (a.op === 'store') {
      if (original) for (const v of st.boundary[a.boundary]!) held.add(v);
      hold(a.boundary, 1);
    } else if (a.op === 'free') {
      hold(a.boundary, -1);
      for (const v of st.boundary[a.boundary]!) if (!holds.get(v) && !kept.has(st.stageOf.get(v)!)) held.delete(v);
    } else if (a.op === 'forward') {
      if (original) for (const v of st.members[a.stage]!) held.add(v);
      else recompute(a.stage, a.stage + 1, true);
      kept.add(a.stage);
    } else kept.delete(a.stage);
  };
  // the original forward pass: what the schedule keeps from it
  for (; cursor < firstBackward; cursor++) run(acts[cursor]!, true);
  const demand = (k: number) => {
    const at = acts.findIndex((a, i) => i >= cursor && a.op === 'forward' && a.stage === k);
    if (at >= 0) {
      for (; cursor <= at; cursor++) run(acts[cursor]!, false);
      for (; acts[cursor]?.op === 'free'; cursor++) run(acts[cursor]!, false); // a boundary dropped at once
      return;
    }
    let from = k;
    while (!st.boundary[from]!.every((v) => held.has(v))) from--;
    if (from < k) recompute(from, k, false);
    recompute(k, k + 1, true);
  };

  const stages: StageSchedule = [...index.keys()].map((_, t) => [t]);
  for (const v of m.values.slice(st.lossIndex + 1)) {
    if (LEAF_OPS.has(v.op)) continue;
    for (const x of v.inputs) {
      const k = st.stageOf.get(x);
      if (k !== undefined && !outputs.has(x) && !held.has(x)) demand(k);
    }
    const t = index.get(v)!;
    stages[t] = [...new Set([...pending, t])].sort((a, b) => a - b);
    pending = [];
  }
  return stages;
}

const graphs = new WeakMap<Module, { graph: TrainingGraph; index: Map<Value, number> }>();

/** Writes a chain schedule into the step (chainStages, then the emitter). */
export function applySchedule(m: Module, st: Stages, schedule: Schedule): Rewritten {
  let g = graphs.get(m);
  if (!g) graphs.set(m, (g = trainingGraph(m, m.values[st.lossIndex]!)));
  return applyStageSchedule(m, g.graph, g.index, chainStages(m, st, schedule, g.index));
}
