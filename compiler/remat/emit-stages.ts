import { Builder } from '../ir/builder.ts';
import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { REMAT_SUFFIX, type Rewritten } from './emit.ts';
import type { StageSchedule, TrainingGraph } from './training-graph.ts';

/**
 * Rewrites a training step to follow a schedule in Checkmate's stages (`g`, `index`: the step as
 * trainingGraph sees it): the forward pass stays as it is; before each backward op, the
 * activations its stage recomputes are cloned (`<name>.remat`), and from then on the backward pass
 * reads the newest version of each activation — so the original, or an earlier clone, dies at its
 * last reader before the recomputation.
 */
export function applyStageSchedule(m: Module, g: TrainingGraph, index: Map<Value, number>, stages: StageSchedule): Rewritten {
  const ops = [...index.keys()];
  const b = new Builder(m); // fresh ids above every existing one
  b.values.length = 0;
  const current = new Map<Value, Value>(); // activation → the version read now
  const copies = new Map<Value, Value>();
  const origin = new Map<Value, Value>();
  const recomputed = new Set<Value>();
  const operand = (x: Value) => copies.get(x) ?? current.get(x) ?? x;
  for (const v of m.values) {
    const t = index.get(v);
    if (LEAF_OPS.has(v.op) || t === undefined || g.nodes[t]!.forward) {
      b.values.push(v);
      continue;
    }
    for (const i of stages[t]!) {
      if (i === t) continue;
      const a = ops[i]!;
      const clone = b.op(a.op, a.inputs.map(operand), a.attrs, { name: `${a.name ?? a.op}${REMAT_SUFFIX}`, loc: a.loc });
      origin.set(clone, a);
      recomputed.add(clone);
      current.set(a, clone);
    }
    const copy = b.op(v.op, v.inputs.map(operand), v.attrs, { name: v.name, loc: v.loc });
    origin.set(copy, v);
    copies.set(v, copy);
  }
  const mapOut = (x: Value) => copies.get(x) ?? x;
  const module = { ...m, values: b.values, outputs: m.outputs.map((o) => ({ ...o, value: mapOut(o.value) })), updates: m.updates.map((u) => ({ ...u, value: mapOut(u.value) })) };
  return { module, origin, recomputed };
}
