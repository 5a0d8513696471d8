import { Builder } from '../ir/builder.ts';
import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import type { OffGpuTier } from '../ir/ops/tier.ts';
import type { StageSchedule, TrainingGraph } from './training-graph.ts';

export const REMAT_SUFFIX = '.remat';

export interface Rewritten {
  module: Module;
  /** Each new op's original: itself for the forward pass, the op it copies or recomputes otherwise. */
  origin: Map<Value, Value>;
  /** The recomputations. */
  recomputed: Set<Value>;
}

/**
 * The new module being written: recomputations are clones of forward ops named `<name>.remat`, copies between tiers
 * `offload`/`reload`, the step's ops copied where their operands change; each remembers its original.
 */
function rewriter(m: Module) {
  const b = new Builder(m); // fresh ids above every existing one
  b.values.length = 0;
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
 * Rewrites a training step to follow a schedule in Checkmate's stages (`g`, `index`: the step as
 * trainingGraph sees it): the forward pass stays as it is; before each backward op, the
 * activations its stage recomputes are cloned (`<name>.remat`), and from then on the backward pass
 * reads the newest version of each activation — so the original, or an earlier clone, dies at its
 * last reader before the recomputation. A value in `moved` (an activation, or a backward value waiting for a later
 * reader) is offloaded to its tier as soon as it is made (`<name>.offload`) and reloaded (`<name>.reload`) in the
 * stages that list it, instead of recomputed.
 */
export function applyStageSchedule(
  m: Module,
  g: TrainingGraph,
  index: Map<Value, number>,
  stages: StageSchedule,
  moved: ReadonlyMap<number, OffGpuTier> = new Map(),
): Rewritten {
  const ops = [...index.keys()];
  const out = rewriter(m);
  const current = new Map<Value, Value>(); // activation → the version read now
  const offloaded = new Map<number, Value>();
  const operand = (x: Value) => current.get(x) ?? out.copies.get(x) ?? x;
  /** What stage t brings back before its op: moved values reloaded, dropped activations recomputed. */
  const reloadOrRecompute = (t: number) => {
    for (const i of stages[t]!) {
      if (i === t) continue;
      const h = offloaded.get(i);
      current.set(ops[i]!, h ? out.transfer('reload', h, {}, ops[i]!) : out.recompute(ops[i]!, operand));
    }
  };
  for (const v of m.values) {
    const t = index.get(v);
    if (t !== undefined) reloadOrRecompute(t);
    if (LEAF_OPS.has(v.op) || t === undefined || g.nodes[t]!.forward) {
      // a forward op reads a moved value's latest reload
      const args = v.inputs.map(operand);
      if (args.some((a, k) => a !== v.inputs[k])) out.copy(v, args);
      else out.push(v);
      const tier = t === undefined ? undefined : moved.get(t);
      if (tier) offloaded.set(t!, out.transfer('offload', out.copies.get(v) ?? v, { tier }, v));
      continue;
    }
    out.copy(v, v.inputs.map(operand));
    const tier = moved.get(t);
    if (tier) offloaded.set(t, out.transfer('offload', out.copies.get(v)!, { tier }, v));
  }
  return out.finish();
}
