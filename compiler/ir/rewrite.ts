import { Builder } from './builder.ts';
import { LEAF_OPS, type Module, type Value } from './graph.ts';

/**
 * A module rebuilt value by value, in order: `visit(v, operands, b)` (operands: v's, as rebuilt so far) returns what
 * replaces v, built with `b`, or undefined to keep it — as it is, or the same op on the rebuilt operands when any
 * changed. Outputs and updates follow their values.
 */
export function rewriteModule(
  m: Module,
  visit: (v: Value, operands: Value[], b: Builder) => Value | undefined,
): Module {
  const b = new Builder(m); // fresh ids above every existing one
  b.values.length = 0;
  const now = new Map<Value, Value>();
  const get = (x: Value) => now.get(x) ?? x;
  for (const v of m.values) {
    const operands = v.inputs.map(get);
    const to = visit(v, operands, b);
    if (to) now.set(v, to);
    else if (!LEAF_OPS.has(v.op) && operands.some((x, k) => x !== v.inputs[k]))
      now.set(v, b.again(v, operands, { name: v.name, loc: v.loc }));
    else b.values.push(v);
  }
  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: get(o.value) })),
    updates: m.updates.map((u) => ({ ...u, value: get(u.value) })),
  };
}
