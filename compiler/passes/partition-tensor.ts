import { Builder } from '../ir/builder.ts';
import { type Attrs, leafName, type Module, type Value } from '../ir/graph.ts';
import { BINARY, UNARY } from '../ir/ops/elementwise.ts';
import type { Pass } from './pass.ts';

/** Why a plan's `tensor` cannot split its model: no pair of linear layers divides by it. */
export class TensorSplitError extends Error {
  constructor(
    readonly tensor: number,
    readonly widths: number[],
  ) {
    super(`tensor: ${tensor} splits no pair of linear layers`);
  }
}

/** A parameter's shard on a rank: `parts` slices along `axis`, the rank's tensor index choosing one. */
export const shardOf = (p: Value): { axis: number; parts: number } | undefined =>
  typeof p.attrs['shard_axis'] === 'number'
    ? { axis: p.attrs['shard_axis'] as number, parts: p.attrs['shard_parts'] as number }
    : undefined;

/**
 * A Megatron pair (Shoeybi et al. 2019): `x @ W1` column-parallel (W1's columns, and any bias of its width, split over
 * the ranks; also `x @ W3` beside it, as SwiGLU's gate), pointwise ops over the split width, then `h @ W2`
 * row-parallel (W2's rows split), its partial sums reduced over the ranks.
 */
interface Pair {
  starts: Value[];
  ends: Value[];
  inner: Set<Value>;
  /** Parameters split, with the axis. */
  split: Map<Value, number>;
}

const matmulOf = (v: Value) => v.op === 'matmul' && !v.attrs['ta'] && !v.attrs['tb'];
const param2d = (p: Value) => p.op === 'param' && p.type.shape.length === 2;

/**
 * Tensor parallelism (`parallel: { tensor: t }`): the program of one rank of t. Every Megatron pair whose hidden width
 * t divides is split (each rank holds 1/t of W1's columns, of its bias and of W2's rows); the pair's input enters
 * through `tp_copy` (its gradient summed over the ranks) and its output leaves through `tp_reduce` (the partial
 * products summed), as Megatron's f and g. What is not in a pair is replicated: every rank computes it whole. Runs
 * before autodiff, so the backward pass follows from the two operators' gradients.
 */
export const partitionTensor: Pass = {
  name: 'partition-tensor',
  doc: "tensor parallelism: one rank's program, Megatron's linear-layer pairs split (parallel: { tensor })",
  run(m, { config, note }) {
    const t = config.parallel.tensor ?? 1;
    if (t <= 1) return m;
    const { pairs, widths } = findPairs(m, t);
    if (!pairs.length) throw new TensorSplitError(t, widths);
    note?.(`${pairs.length} pair(s) of linear layers split over ${t} ranks`);
    return split(m, pairs, t);
  },
};

function usersOf(m: Module): Map<Value, Value[]> {
  const users = new Map<Value, Value[]>();
  for (const v of m.values) for (const x of v.inputs) users.set(x, [...(users.get(x) ?? []), v]);
  return users;
}

/** Every pair t splits, and the hidden widths of those it cannot (for the error). */
export function findPairs(m: Module, t: number): { pairs: Pair[]; widths: number[] } {
  const users = usersOf(m);
  const outputs = new Set(m.outputs.map((o) => o.value));
  const readOnce = (p: Value) => (users.get(p) ?? []).length === 1;
  const taken = new Set<Value>();
  const pairs: Pair[] = [];
  const widths: number[] = [];
  for (const v of m.values) {
    if (!matmulOf(v) || taken.has(v) || !param2d(v.inputs[1]!) || !readOnce(v.inputs[1]!)) continue;
    const x = v.inputs[0]!;
    const n = v.inputs[1]!.type.shape[1] as number;
    const pair = grow(v, x, n, users, outputs, readOnce);
    if (!pair || pair.starts.some((s) => taken.has(s))) continue;
    if (n % t) {
      widths.push(n);
      continue;
    }
    for (const s of [...pair.starts, ...pair.inner, ...pair.ends]) taken.add(s);
    pairs.push(pair);
  }
  return { pairs, widths };
}

/**
 * The pair starting at `v` (x @ W1 of width n, with every product of x beside it), or undefined where something
 * outside the pair reads inside it or it reads something it cannot split.
 */
function grow(
  v: Value,
  x: Value,
  n: number,
  users: Map<Value, Value[]>,
  outputs: Set<Value>,
  readOnce: (p: Value) => boolean,
): Pair | undefined {
  const column = (u: Value) => {
    const w = u.inputs[1];
    return matmulOf(u) && u.inputs[0] === x && !!w && param2d(w) && readOnce(w) && w.type.shape[1] === n;
  };
  // every product of x of width n starts the pair (SwiGLU's gate beside its up projection)
  const starts = [v, ...(users.get(x) ?? []).filter((u) => u !== v && column(u))];
  const pair: Pair = { starts, ends: [], inner: new Set(starts), split: new Map(starts.map((s) => [s.inputs[1]!, 1])) };
  const queue = [...starts];
  const widthOf = (u: Value) => u.type.shape.at(-1);
  while (queue.length) {
    const h = queue.pop()!;
    if (outputs.has(h)) return undefined;
    for (const u of users.get(h) ?? []) {
      if (pair.inner.has(u) || pair.ends.includes(u)) continue;
      const w = u.inputs[1];
      if (matmulOf(u) && u.inputs[0] === h && w && param2d(w) && readOnce(w) && w.type.shape[0] === n) {
        pair.ends.push(u);
        pair.split.set(w, 0);
        continue;
      }
      const pointwise = u.op in UNARY || (u.op in BINARY && u.type.shape.length === h.type.shape.length);
      if (!pointwise || widthOf(u) !== n) return undefined;
      for (const y of u.inputs) if (y.op === 'param' && y.type.shape.length === 1 && readOnce(y)) pair.split.set(y, 0);
      pair.inner.add(u);
      queue.push(u);
    }
  }
  // a pointwise op's other operands: the pair's own values, a split bias, or scalars
  for (const u of pair.inner)
    if (!pair.starts.includes(u))
      for (const y of u.inputs) if (!pair.inner.has(y) && !pair.split.has(y) && y.type.shape.length) return undefined;
  return pair.ends.length ? pair : undefined;
}

function split(m: Module, pairs: Pair[], t: number): Module {
  const axisOf = new Map<Value, number>();
  const starts = new Set<Value>();
  const ends = new Set<Value>();
  for (const p of pairs) {
    for (const [w, a] of p.split) axisOf.set(w, a);
    for (const s of p.starts) starts.add(s);
    for (const e of p.ends) ends.add(e);
  }
  const group: Attrs = { group: 'tensor', ranks: t };
  const b = new Builder();
  const map = new Map<Value, Value>();
  const entered = new Map<Value, Value>();
  for (const v of m.values) {
    const meta = { name: v.name, loc: v.loc };
    if (v.op === 'input' || v.op === 'param' || v.op === 'state') {
      const axis = axisOf.get(v);
      const shape = v.type.shape.map((d, i) => (i === axis ? (d as number) / t : d));
      const attrs = axis === undefined ? v.attrs : { ...v.attrs, shard_axis: axis, shard_parts: t };
      map.set(v, b.leaf(v.op, leafName(v), { ...v.type, shape }, attrs, meta));
      continue;
    }
    let inputs = v.inputs.map((x) => map.get(x)!);
    if (starts.has(v)) {
      const x = v.inputs[0]!;
      if (!entered.has(x)) entered.set(x, b.op('tp_copy', [inputs[0]!], group, { name: x.name, loc: x.loc }));
      inputs = [entered.get(x)!, ...inputs.slice(1)];
    }
    const y = b.op(v.op as never, inputs, v.attrs, meta);
    map.set(v, ends.has(v) ? b.op('tp_reduce', [y], group, meta) : y);
  }
  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: map.get(o.value)! })),
    updates: m.updates.map((u) => ({ ...u, value: map.get(u.value)! })),
  };
}
