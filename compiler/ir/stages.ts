import { LEAF_OPS, type Module, usersOf, type Value } from './graph.ts';

/**
 * Where a pipelined program's values run. Partition-pipeline marks stage boundaries with `pp_send` ops (stage `from`
 * to stage `to`) in the forward program; every later pass (autodiff, the optimizer, checkpointing) builds on values
 * whose stages follow from those: an op runs on the stage of its operands, a parameter on the stage of its first user.
 * Values computed from the step's inputs and constants alone (positions, masks) are free: every stage that reads
 * them computes its own copy, as each pipeline rank builds its own masks.
 */
export interface Stages {
  /** Each value's stage (virtual: with interleaving, stage c runs on pipeline rank c mod P); free values absent. */
  stage: Map<Value, number>;
  free: Set<Value>;
  /** Stages: one more than the highest. */
  count: number;
  /** Pipeline ranks (stage c on rank c mod pipeline). */
  pipeline: number;
}

const isSend = (v: Value) => v.op === 'pp_send';
const num = (v: Value, k: string) => v.attrs[k] as number;

/** Values computed from inputs and constants alone: no parameter, state or other stage's value reaches them. */
export function freeValues(m: Module): Set<Value> {
  const free = new Set<Value>();
  for (const v of m.values)
    if (v.op === 'input' || (!LEAF_OPS.has(v.op) && !isSend(v) && v.inputs.every((x) => free.has(x)))) free.add(v);
  return free;
}

/** Modules are never changed once built: each one's stages are derived once (the simulator asks every step). */
const derived = new WeakMap<Module, Stages | undefined>();

/** The stages of a module's values; undefined when it has no `pp_send` (one stage). Throws when they disagree. */
export function stagesOf(m: Module): Stages | undefined {
  if (!derived.has(m)) derived.set(m, deriveStages(m));
  return derived.get(m);
}

function deriveStages(m: Module): Stages | undefined {
  if (!m.values.some(isSend)) return undefined;
  const free = freeValues(m);
  const stage = new Map<Value, number>();
  // forward: an op on its operands' stage (a send on its receiver's)
  for (const v of m.values) {
    if (free.has(v) || LEAF_OPS.has(v.op)) continue;
    if (isSend(v)) stage.set(v, num(v, 'to'));
    else {
      const from = v.inputs.find((x) => stage.has(x));
      if (from) stage.set(v, stage.get(from)!);
    }
  }
  // backward: what reads only parameters and state (a weight's cast, the leaves themselves) on its first user's stage
  const users = usersOf(m);
  for (let i = m.values.length - 1; i >= 0; i--) {
    const v = m.values[i]!;
    if (free.has(v) || stage.has(v)) continue;
    const at = (users.get(v) ?? []).map((u) => (isSend(u) ? num(u, 'from') : stage.get(u)));
    const known = at.filter((s): s is number => s !== undefined);
    stage.set(v, known.length ? Math.min(...known) : 0);
  }
  // every op reads values of its own stage (a send, of the stage it sends from)
  for (const v of m.values) {
    if (free.has(v) || LEAF_OPS.has(v.op)) continue;
    const s = stage.get(v)!;
    for (const x of v.inputs) {
      if (free.has(x)) continue;
      const want = isSend(v) ? num(v, 'from') : s;
      if (stage.get(x) !== want)
        throw new Error(
          `internal: ${v.op} "${v.name ?? ''}" on stage ${isSend(v) ? `${num(v, 'from')} (sending)` : s} reads ` +
            `${x.op} "${x.name ?? ''}" of stage ${stage.get(x)}`,
        );
    }
  }
  let count = 0;
  for (const s of stage.values()) count = Math.max(count, s + 1);
  const pipeline = Number(m.values.find(isSend)!.attrs['pipeline']);
  return { stage, free, count, pipeline };
}

/**
 * One stage's program, for its cost and memory: the stage's values and the free values they read; what it receives
 * (a `pp_send` to it) is an input there, named `recv:<id>` (`recv`: made when it arrives), and what it sends stays
 * as the `pp_send` that reads it, marked `sending` (no kernel, no memory here: the value lives until it is sent).
 */
export function stageModule(m: Module, st: Stages, s: number): Module {
  const keep = new Set<Value>();
  for (const v of m.values) if (st.stage.get(v) === s || (isSend(v) && num(v, 'from') === s)) keep.add(v);
  for (let i = m.values.length - 1; i >= 0; i--) {
    const v = m.values[i]!;
    if (keep.has(v) && !(isSend(v) && num(v, 'to') === s)) for (const x of v.inputs) if (st.free.has(x)) keep.add(x);
  }
  // what the stage receives becomes an input; a value reading one (or reading such a value) is rebuilt on the copy
  const swapped = new Map<Value, Value>();
  const values: Value[] = [];
  for (const v of m.values) {
    if (!keep.has(v)) continue;
    let w: Value;
    if (isSend(v) && num(v, 'to') === s) {
      // a gradient coming back (sends run forward from earlier stages to later ones) starts the stage's backward
      const attrs = {
        name: `recv:${v.id}`,
        recv: true,
        ...(num(v, 'from') > s ? { backward: true } : {}),
        ...(v.attrs['weight'] ? { weight: true } : {}),
      };
      w = { id: v.id, op: 'input', inputs: [], attrs, type: v.type };
      if (v.name !== undefined) w.name = v.name;
    } else if (isSend(v))
      w = { ...v, inputs: v.inputs.map((x) => swapped.get(x)!), attrs: { ...v.attrs, sending: true } };
    else w = v.inputs.some((x) => swapped.get(x) !== x) ? { ...v, inputs: v.inputs.map((x) => swapped.get(x)!) } : v;
    swapped.set(v, w);
    values.push(w);
  }
  return {
    name: `${m.name}.stage${s}`,
    values,
    outputs: m.outputs
      .filter((o) => keep.has(o.value) && !(isSend(o.value) && num(o.value, 'from') === s))
      .map((o) => ({ ...o, value: swapped.get(o.value)! })),
    updates: m.updates.filter((u) => keep.has(u.value)).map((u) => ({ ...u, value: swapped.get(u.value)! })),
  };
}
