import { Builder } from '../ir/builder.ts';
import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { actions, type Schedule } from './schedule.ts';
import type { Stages } from './stages.ts';

export const REMAT_SUFFIX = '.remat';

export interface Rewritten {
  module: Module;
  /** Each new op's original: itself for the forward pass, the op it copies or recomputes otherwise. */
  origin: Map<Value, Value>;
  /** The recomputations. */
  recomputed: Set<Value>;
}

/**
 * What both rewrites share: the new module keeps `m`'s first `keep` values; recomputations are
 * clones of forward ops named `<name>.remat`, the backward pass's ops are copied, and both
 * remember their original.
 */
export function rewriter(m: Module, keep: number) {
  const b = new Builder(m); // fresh ids above every existing one
  b.values.length = keep;
  const origin = new Map<Value, Value>();
  const recomputed = new Set<Value>();
  const copies = new Map<Value, Value>(); // backward value → its copy
  return {
    copies,
    push: (v: Value) => void b.values.push(v),
    recompute(v: Value, operand: (x: Value) => Value): Value {
      const clone = b.again(v, v.inputs.map(operand), { name: `${v.name ?? v.op}${REMAT_SUFFIX}`, loc: v.loc });
      origin.set(clone, v);
      recomputed.add(clone);
      return clone;
    },
    /**
     * An `offload` of a forward value (named `<name>.offload`), or a `reload` of one (`<name>.reload`, standing for
     * `of`, the forward value it brings back).
     */
    transfer(op: 'offload' | 'reload', x: Value, attrs: Record<string, string>, of?: Value): Value {
      const base = (of ?? x).name ?? (of ?? x).op;
      const t = b.op(op, [x], attrs, { name: `${base.replace(/\.offload$/, '')}.${op}`, loc: (of ?? x).loc });
      origin.set(t, of ?? x);
      return t;
    },
    copy(v: Value, inputs: Value[]): void {
      const copy = b.again(v, inputs, { name: v.name, loc: v.loc });
      origin.set(copy, v);
      copies.set(v, copy);
    },
    finish(): Rewritten {
      const mapOut = (x: Value) => copies.get(x) ?? x;
      const module = {
        ...m,
        values: b.values,
        outputs: m.outputs.map((o) => ({ ...o, value: mapOut(o.value) })),
        updates: m.updates.map((u) => ({ ...u, value: mapOut(u.value) })),
      };
      return { module, origin, recomputed };
    },
  };
}

/**
 * Rewrites a training step to follow a checkpointing schedule: the forward pass stays as it is;
 * the backward pass reads forward values only where the schedule keeps them, and the schedule's
 * recomputations (clones of forward ops, named `<name>.remat`) are inserted where it needs them.
 * Backward ops run in their original order; the first time one reads a value of stage k, the
 * schedule's actions up to materializing stage k run. A read the schedule did not foresee
 * recomputes from the nearest stored boundary, so the result is always correct.
 */
export function applySchedule(m: Module, st: Stages, schedule: Schedule): Rewritten {
  const n = st.members.length;
  const acts = actions(schedule, 0, n);
  const firstBackward = acts.findIndex((a) => a.op === 'backward');
  const out = rewriter(m, st.lossIndex + 1);
  const current = new Map<Value, Value>(); // forward value → the version the backward pass reads now
  const outputs = new Set(m.outputs.map((o) => o.value));
  // a frontier value stays while a stored boundary holds it or its stage is kept for its backward
  const holds = new Map<Value, number>();
  const kept = new Set<number>();
  const hold = (k: number, d: number) => st.boundary[k]!.forEach((v) => holds.set(v, (holds.get(v) ?? 0) + d));

  const boundaryAvailable = (k: number) => st.boundary[k]!.every((v) => current.has(v));
  const operand = (x: Value) => current.get(x) ?? x;
  /**
   * Clones stages from…to-1 from the boundary before `from`. With `keepAll` every cloned value is
   * what the backward pass reads next; otherwise only the result, the boundary before stage `to`.
   */
  const recompute = (from: number, to: number, keepAll: boolean) => {
    for (let k = from; k < to; k++) for (const v of st.members[k]!) current.set(v, out.recompute(v, operand));
    if (!keepAll) {
      const next = new Set(st.boundary[to] ?? []);
      for (let k = from; k < to; k++) for (const v of st.members[k]!) if (!next.has(v)) current.delete(v);
    }
  };

  let cursor = 0;
  const run = (a: (typeof acts)[number], orig: boolean) => {
    if (a.op === 'advance') {
      if (!orig) recompute(a.from, a.to, false);
    } else if (a.op === 'store') {
      if (orig) for (const v of st.boundary[a.boundary]!) current.set(v, v);
      hold(a.boundary, 1);
    } else if (a.op === 'free') {
      hold(a.boundary, -1);
      for (const v of st.boundary[a.boundary]!) if (!holds.get(v) && !kept.has(st.stageOf.get(v)!)) current.delete(v);
    } else if (a.op === 'forward') {
      if (orig) for (const v of st.members[a.stage]!) current.set(v, v);
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
    while (!boundaryAvailable(from)) from--;
    if (from < k) recompute(from, k, false);
    recompute(k, k + 1, true);
  };

  for (const v of m.values.slice(st.lossIndex + 1)) {
    if (LEAF_OPS.has(v.op)) {
      out.push(v);
      continue;
    }
    const ins = v.inputs.map((x) => {
      if (out.copies.has(x)) return out.copies.get(x)!;
      const k = st.stageOf.get(x);
      if (k === undefined || outputs.has(x)) return x;
      if (!current.has(x)) demand(k);
      return current.get(x)!;
    });
    out.copy(v, ins);
  }
  return out.finish();
}
