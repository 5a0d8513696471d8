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

/**
 * Fuses chains of elementwise ops (and the scalar constants they read) into single `fused` ops when
 * the plan asks for `fuse: [elementwise]`. A value is folded into its consumer when that consumer is
 * its only user, has its shape (no recomputation under broadcasting), and it is not an output.
 */
export const fuseElementwise: Pass = {
  name: 'fuse-elementwise',
  doc: 'chains of elementwise ops become one generated kernel',
  run(m, { config }) {
    if (!config.fuse.includes('elementwise')) return m;
    const uses = new Map<Value, number>();
    for (const v of m.values) for (const x of v.inputs) uses.set(x, (uses.get(x) ?? 0) + 1);
    const pinned = pinnedValues(m);
    const groups = new Map<Value, Group>();
    const absorbed = new Set<Value>();
    for (const v of m.values) {
      if (!FUSIBLE.has(v.op) || v.type.dtype !== 'f32') continue;
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
        return operand(x);
      });
      groups.set(v, { expr: { kind: 'call', op: v.op, args }, inputs, ops });
    }
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
