import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';

const sameShape = (a: Value, b: Value) =>
  a.type.shape.length === b.type.shape.length && a.type.shape.every((d, i) => d === b.type.shape[i]);

/**
 * The attention cores among `forward`'s values (Korthikanti et al. 2022, selective recomputation): for each softmax,
 * the values of its shape (…×T×S) joined to it by single-operand chains — back to the matmul that made the scores
 * (q·kᵀ, its scale, bias, mask and casts) and on to the readers before the matmul with v (the probabilities'
 * dropout and casts). Their bytes grow with T·S; recomputing them costs one score matmul and a few elementwise ops.
 * A fused `attention` keeps no scores and has no core here: its backward kernel recomputes them.
 */
export function attentionCores(m: Module, forward: ReadonlySet<Value>): Set<Value> {
  const readers = new Map<Value, Value[]>();
  for (const v of m.values) for (const x of v.inputs) readers.set(x, [...(readers.get(x) ?? []), v]);
  const core = new Set<Value>();
  const joins = (v: Value, s: Value) => forward.has(v) && !LEAF_OPS.has(v.op) && v.op !== 'const' && sameShape(v, s);
  for (const s of m.values) {
    if (s.op !== 'softmax' || !forward.has(s)) continue;
    const chain: Value[] = [s];
    // back: the one operand of s's shape, until the scores' matmul
    let x: Value | undefined = s.inputs[0];
    let scores = false;
    while (x && joins(x, s) && !core.has(x)) {
      chain.push(x);
      if (x.op === 'matmul') {
        scores = true;
        break;
      }
      const own: Value[] = x.inputs.filter((i) => joins(i, s));
      x = own.length === 1 ? own[0] : undefined;
    }
    if (!scores) continue;
    // on: readers of s's shape other than a matmul (the product with v has v's last axis)
    const todo = [s];
    while (todo.length) {
      for (const r of readers.get(todo.pop()!) ?? [])
        if (r.op !== 'matmul' && joins(r, s) && !chain.includes(r)) chain.push(r), todo.push(r);
    }
    for (const v of chain) core.add(v);
  }
  return core;
}
