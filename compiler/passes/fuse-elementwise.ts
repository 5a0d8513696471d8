import { pinnedValues, type Value } from '../ir/graph.ts';
import { FUSIBLE, printExpr, type Expr } from '../ir/ops/fused.ts';
import { getOp } from '../ir/ops/registry.ts';
import type { Pass } from './pass.ts';

interface Group {
  expr: Expr;
  inputs: Value[];
  ops: number;
}

const sameShape = (a: Value, b: Value) =>
  a.type.shape.length === b.type.shape.length && a.type.shape.every((d, i) => d === b.type.shape[i]);

const FLOATS = new Set(['f32', 'bf16', 'f16']);

/**
 * Fuses chains of elementwise ops (and the scalar constants they read) into single `fused` ops when
 * the plan asks for `fuse: [elementwise]`, in any float precision (a fused kernel rounds once, at its
 * store). A value is folded into its consumer when that consumer is its only user, has its shape (no
 * recomputation under broadcasting), and it is not an output. What it leaves apart, and why, it notes.
 */
export const fuseElementwise: Pass = {
  name: 'fuse-elementwise',
  doc: 'chains of elementwise ops become one generated kernel',
  run(m, { config, note }) {
    if (!config.fuse.includes('elementwise')) return m;
    const uses = new Map<Value, number>();
    for (const v of m.values) for (const x of v.inputs) uses.set(x, (uses.get(x) ?? 0) + 1);
    const pinned = pinnedValues(m);
    const groups = new Map<Value, Group>();
    const absorbed = new Set<Value>();
    const apart = { dtype: 0, shared: 0, broadcast: 0, pinned: 0 };
    for (const v of m.values) {
      if (!FUSIBLE.has(v.op)) continue;
      if (!FLOATS.has(v.type.dtype)) {
        apart.dtype++;
        continue;
      }
      const inputs: Value[] = [];
      let ops = 1;
      const operand = (x: Value): Expr => {
        const k = inputs.indexOf(x);
        if (k >= 0) return { kind: 'operand', index: k };
        inputs.push(x);
        return { kind: 'operand', index: inputs.length - 1 };
      };
      const args = v.inputs.map((x): Expr => {
        if (x.op === 'const' && x.type.shape.length === 0) return { kind: 'const', value: Number(x.attrs['value']) };
        const g = groups.get(x);
        if (g && uses.get(x) === 1 && sameShape(x, v) && !pinned.has(x)) {
          absorbed.add(x);
          ops += g.ops;
          return remap(g.expr, g.inputs, operand);
        }
        if (g) apart[uses.get(x) !== 1 ? 'shared' : !sameShape(x, v) ? 'broadcast' : 'pinned']++;
        return operand(x);
      });
      groups.set(v, { expr: { kind: 'call', op: v.op, args }, inputs, ops });
    }
    const fusedOps = [...groups].filter(([v, g]) => g.ops > 1 && !absorbed.has(v)).map(([, g]) => g);
    note?.(
      `${fusedOps.length} kernels in place of ${fusedOps.reduce((a, g) => a + g.ops, 0)} elementwise ops; ` +
        `not fused into their reader: ${apart.shared} read by several ops, ${apart.broadcast} broadcast to a ` +
        `larger shape, ${apart.pinned} outputs or updates` +
        (apart.dtype ? `; ${apart.dtype} elementwise ops on integers left alone (fused kernels compute floats)` : ''),
    );
    // rebuild: fused roots replace their chains; everything else is copied with remapped operands
    const map = new Map<Value, Value>();
    const values: Value[] = [];
    for (const v of m.values) {
      if (absorbed.has(v)) continue;
      const g = groups.get(v);
      const fused = g && g.ops > 1;
      const nv: Value = fused
        ? { ...v, op: 'fused', inputs: g.inputs.map((x) => map.get(x)!), attrs: { expr: printExpr(g.expr) } }
        : { ...v, inputs: v.inputs.map((x) => map.get(x)!) };
      if (fused)
        getOp('fused').infer(
          nv.inputs.map((x) => x.type),
          nv.attrs,
        );
      map.set(v, nv);
      values.push(nv);
    }
    // constants inlined into expressions are left unused: dce removes them
    return {
      ...m,
      values,
      outputs: m.outputs.map((o) => ({ ...o, value: map.get(o.value)! })),
      updates: m.updates.map((u) => ({ ...u, value: map.get(u.value)! })),
    };
  },
};

function remap(e: Expr, from: Value[], operand: (x: Value) => Expr): Expr {
  if (e.kind === 'operand') return operand(from[e.index]!);
  if (e.kind === 'const') return e;
  return { ...e, args: e.args.map((a) => remap(a, from, operand)) };
}
