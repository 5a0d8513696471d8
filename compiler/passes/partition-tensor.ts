import { Builder } from '../ir/builder.ts';
import { type Attrs, leafName, type Module, usersOf, type Value } from '../ir/graph.ts';
import { BINARY, UNARY } from '../ir/ops/elementwise.ts';
import { ints } from '../ir/ops/util.ts';
import type { Pass } from './pass.ts';

/** Why a plan's `tensor` cannot split its model: no layer divides by it. */
export class TensorSplitError extends Error {
  constructor(
    readonly tensor: number,
    readonly widths: number[],
    /** The head counts of attention it could not split (t does not divide them). */
    readonly heads: number[] = [],
  ) {
    super(`tensor: ${tensor} splits no layer`);
  }
}

/**
 * How a value is split over the t ranks: its dim `axis` is outer × t × inner, and a rank holds slice r of the t (for
 * a fused QKV projection, outer 3: each of q, k and v gives the rank its heads).
 */
export interface Split {
  axis: number;
  outer: number;
}

/** Which ranks a leaf is split over: a tensor-parallel group's, or an expert-parallel group's (`shard_group`). */
export type ShardGroup = 'tensor' | 'expert';

/** A leaf's split over ranks: its axis, ranks, group, and the padding that makes the axis divide (`pad` entries). */
export type Shard = Split & { parts: number; group: ShardGroup; pad: number };

/**
 * A parameter's split on a rank (`shard_axis`, `shard_parts`, `shard_outer`, `shard_group`, `shard_pad`: the last
 * entries of the last rank's slice that pad the axis to a multiple of the ranks), or undefined: it is whole.
 */
export const shardOf = (p: Value): Shard | undefined =>
  typeof p.attrs['shard_axis'] === 'number'
    ? {
        axis: p.attrs['shard_axis'] as number,
        parts: p.attrs['shard_parts'] as number,
        outer: (p.attrs['shard_outer'] as number | undefined) ?? 1,
        group: (p.attrs['shard_group'] as ShardGroup | undefined) ?? 'tensor',
        pad: (p.attrs['shard_pad'] as number | undefined) ?? 0,
      }
    : undefined;

/** The shape of the whole leaf that `v` is a rank's slice of (its padding dropped), or `v`'s own when it is whole. */
export const wholeShape = (v: Value): number[] => {
  const s = shardOf(v);
  return (v.type.shape as number[]).map((d, i) => (i === s?.axis ? d * s.parts - s.pad : d));
};

/** The attributes saying a leaf is split as `s` over `parts` ranks of a group (tensor unless told), padded by `pad`. */
export const splitAttrs = (s: Split, parts: number, group: ShardGroup = 'tensor', pad = 0): Attrs => ({
  shard_axis: s.axis,
  shard_parts: parts,
  ...(s.outer > 1 ? { shard_outer: s.outer } : {}),
  ...(group !== 'tensor' ? { shard_group: group } : {}),
  ...(pad ? { shard_pad: pad } : {}),
});

/** A leaf's attributes carrying the split of parameter `p` (for the state made beside it: Adam's moments). */
export const shardAttrs = (p: Value): Attrs => {
  const s = shardOf(p);
  return s ? splitAttrs(s, s.parts, s.group, s.pad) : {};
};

/** A region of values split over the ranks: where x enters (column-parallel products) and where it is reduced. */
interface Region {
  splits: Map<Value, Split>;
  starts: Set<Value>;
  ends: Set<Value>;
}

const matmulOf = (v: Value) => v.op === 'matmul' && !v.attrs['ta'] && !v.attrs['tb'];
const param2d = (p: Value) => p.op === 'param' && p.type.shape.length === 2;
const dims = (v: Value) => v.type.shape as number[];
const prod = (xs: number[]) => xs.reduce((a, d) => a * d, 1);
const same = (a: Split | undefined, b: Split) => !!a && a.axis === b.axis && a.outer === b.outer;

/**
 * The split `s` of a tensor of shape `from` as a split of the same elements reshaped to `to` (row-major order kept):
 * undefined where the rank's slice is not a slice of one axis of `to`.
 */
export function reshapeSplit(from: number[], to: number[], s: Split, t: number): Split | undefined {
  const before = prod(from.slice(0, s.axis)) * s.outer;
  const within = (from[s.axis]! / (s.outer * t)) * prod(from.slice(s.axis + 1));
  for (let k = 0; k < to.length; k++) {
    const q = prod(to.slice(0, k));
    if (before % q) continue;
    const outer = before / q;
    if (to[k]! % (outer * t)) continue;
    if ((to[k]! / (outer * t)) * prod(to.slice(k + 1)) === within) return { axis: k, outer };
  }
  return undefined;
}

/**
 * Tensor parallelism (`parallel: { tensor: t }`, Megatron: Shoeybi et al. 2019): the program of one rank of t. A
 * layer is split where a column-parallel product (x @ W, W's columns split: a feed-forward block's first layer, a
 * fused QKV projection by heads, SwiGLU's gate) leads, through pointwise ops, reshapes, transposes, slices, rotary
 * embeddings and fused attention over the rank's heads, to a row-parallel product (h @ W2, W2's rows split): x enters
 * through `tp_copy` (its gradient summed over the ranks) and the product leaves through `tp_reduce` (the partial
 * sums summed), Megatron's f and g. A layer that cannot be split so (a value read outside it, an op with no rule,
 * ALiBi or dropout in its attention, heads or widths t does not divide) is replicated: every rank computes it whole.
 * Runs before autodiff, so the backward follows from the two operators' gradients.
 */
export const partitionTensor: Pass = {
  name: 'partition-tensor',
  doc: "tensor parallelism: one rank's program, Megatron's column- and row-parallel layers (parallel: { tensor })",
  run(m, { config, note }) {
    const t = config.parallel.tensor ?? 1;
    if (t <= 1) return m;
    const { regions, widths, heads } = findRegions(m, t);
    if (!regions.length) throw new TensorSplitError(t, widths, heads);
    const attn = regions.filter((r) => [...r.splits.keys()].some((v) => v.op === 'attention')).length;
    note?.(`${regions.length} layers split over ${t} ranks (${attn} attention, ${regions.length - attn} feed-forward)`);
    return split(m, regions, t);
  },
};

/** Every layer t splits, and the widths of the feed-forward layers and heads of attention it could not (the error). */
export function findRegions(m: Module, t: number): { regions: Region[]; widths: number[]; heads: number[] } {
  const users = usersOf(m);
  const outputs = new Set(m.outputs.map((o) => o.value));
  const readOnce = (p: Value) => (users.get(p) ?? []).length === 1;
  const taken = new Set<Value>();
  const regions: Region[] = [];
  const widths: number[] = [];
  const heads: number[] = [];
  // attention first: its heads decide how the products around it split (a fused QKV weight by heads, its LoRA
  // adapter's B with it), which a product alone would split by columns
  const seeds: [Value, Split][] = [
    ...m.values
      .filter((v) => v.op === 'attention')
      .map((v): [Value, Split] => [v, { axis: dims(v).length - 3, outer: 1 }]),
    ...m.values
      .filter((v) => matmulOf(v) && param2d(v.inputs[1]!) && readOnce(v.inputs[1]!))
      .map((v): [Value, Split] => [v, { axis: dims(v).length - 1, outer: 1 }]),
  ];
  for (const [v, s] of seeds) {
    if (taken.has(v)) continue;
    const r = grow(v, s, t, users, outputs, readOnce);
    if (!r) {
      if (v.op === 'matmul' && dims(v).at(-1)! % t) widths.push(dims(v).at(-1)!);
      if (v.op === 'attention' && dims(v).at(-3)! % t) heads.push(dims(v).at(-3)!);
      continue;
    }
    if ([...r.splits.keys()].some((x) => taken.has(x))) continue;
    for (const x of r.splits.keys()) taken.add(x);
    regions.push(r);
  }
  return { regions, widths, heads };
}

/** The region reached from `seed` split as `s`, or undefined where it cannot be split. */
function grow(
  seed: Value,
  s: Split,
  t: number,
  users: Map<Value, Value[]>,
  outputs: Set<Value>,
  readOnce: (p: Value) => boolean,
): Region | undefined {
  const r: Region = { splits: new Map(), starts: new Set(), ends: new Set() };
  const queue: Value[] = [];
  let ok = true;
  const assign = (v: Value, sp: Split) => {
    const d = dims(v)[sp.axis];
    if (d === undefined || d % (sp.outer * t)) ok = false;
    const had = r.splits.get(v);
    if (had) {
      if (!same(had, sp)) ok = false;
      return;
    }
    r.splits.set(v, sp);
    queue.push(v);
  };
  // attention's operands and result split by heads (the heads axis of each, its key/value heads too)
  const heads = (a: Value) => {
    if (a.inputs.length !== 3 || a.attrs['alibi'] || a.attrs['dropout']) ok = false;
    for (const x of [...a.inputs, a]) assign(x, { axis: dims(x).length - 3, outer: 1 });
  };
  const full = (v: Value, sp: Split) => {
    const starts = ints(v.attrs, 'starts');
    const ends = ints(v.attrs, 'ends');
    return starts[sp.axis] === 0 && ends[sp.axis] === dims(v.inputs[0]!)[sp.axis];
  };
  if (seed.op === 'attention') heads(seed);
  else assign(seed, s);
  while (queue.length && ok) {
    const v = queue.pop()!;
    const sp = r.splits.get(v)!;
    if (outputs.has(v)) return undefined;
    // where v comes from
    if (v.op === 'matmul') {
      const w = v.inputs[1]!;
      const last = sp.axis === dims(v).length - 1;
      if (!matmulOf(v) || !last || !param2d(w) || !readOnce(w) || r.splits.has(v.inputs[0]!)) return undefined;
      r.starts.add(v);
      r.splits.set(w, { axis: 1, outer: sp.outer });
    } else if (v.op === 'attention') heads(v);
    else if (v.op in UNARY || v.op === 'rope') {
      if (v.op === 'rope' && sp.axis >= dims(v).length - 2) return undefined;
      assign(v.inputs[0]!, sp);
    } else if (v.op in BINARY) {
      for (const x of v.inputs) {
        if (x.type.shape.length === 0) continue;
        if (sameShape(x, v)) assign(x, sp);
        else if (x.op === 'param' && dims(x).length === 1 && sp.axis === dims(v).length - 1 && readOnce(x))
          r.splits.set(x, { axis: 0, outer: sp.outer });
        else return undefined;
      }
    } else if (v.op === 'reshape') {
      const back = reshapeSplit(dims(v), dims(v.inputs[0]!), sp, t);
      if (!back) return undefined;
      assign(v.inputs[0]!, back);
    } else if (v.op === 'cache_write' || v.op === 'cache_view') {
      // a KV cache split by heads with the keys or values it holds (never along its positions)
      if (sp.axis === v.attrs['axis']) return undefined;
      for (const x of v.inputs) assign(x, sp);
    } else if (v.op === 'state') {
      // the cache itself: every reader below
    } else if (v.op === 'transpose') assign(v.inputs[0]!, { axis: ints(v.attrs, 'perm')[sp.axis]!, outer: sp.outer });
    else if (v.op === 'slice') {
      if (!full(v, sp)) return undefined;
      assign(v.inputs[0]!, sp);
    } else return undefined;
    // who reads v
    for (const u of users.get(v) ?? []) {
      if (r.ends.has(u) || r.starts.has(u)) continue;
      if (u.op === 'matmul') {
        const w = u.inputs[1]!;
        const row = matmulOf(u) && u.inputs[0] === v && sp.axis === dims(v).length - 1;
        if (!row || !param2d(w) || !readOnce(w) || dims(w)[0] !== dims(v).at(-1)) return undefined;
        r.ends.add(u);
        r.splits.set(w, { axis: 0, outer: sp.outer });
      } else if (u.op === 'attention') {
        if (u.inputs.indexOf(v) > 2) return undefined;
        heads(u);
      } else if (u.op in UNARY || u.op === 'rope' || u.op in BINARY || u.op === 'slice') assign(u, sp);
      else if (u.op === 'cache_write' || u.op === 'cache_view') assign(u, sp);
      else if (u.op === 'reshape') {
        const on = reshapeSplit(dims(v), dims(u), sp, t);
        if (!on) return undefined;
        assign(u, on);
      } else if (u.op === 'transpose') assign(u, { axis: ints(u.attrs, 'perm').indexOf(sp.axis), outer: sp.outer });
      else return undefined;
    }
  }
  return ok && r.ends.size ? r : undefined;
}

const sameShape = (a: Value, b: Value) =>
  a.type.shape.length === b.type.shape.length && a.type.shape.every((d, i) => d === b.type.shape[i]);

/** The attributes of `v` for the rank's slice of its split: a reshape's target and a slice's range on the axis. */
function localAttrs(v: Value, s: Split | undefined, t: number): Attrs {
  if (!s) return v.attrs;
  if (v.op === 'reshape') {
    const shape = ints(v.attrs, 'shape').map((d, i) => (i === s.axis && d !== -1 ? d / t : d));
    return { ...v.attrs, shape };
  }
  if (v.op === 'slice') return { ...v.attrs, ends: ints(v.attrs, 'ends').map((d, i) => (i === s.axis ? d / t : d)) };
  return v.attrs;
}

function split(m: Module, regions: Region[], t: number): Module {
  const splits = new Map<Value, Split>();
  const starts = new Set<Value>();
  const ends = new Set<Value>();
  for (const r of regions) {
    for (const [v, s] of r.splits) splits.set(v, s);
    for (const s of r.starts) starts.add(s);
    for (const e of r.ends) ends.add(e);
  }
  const group: Attrs = { group: 'tensor', ranks: t };
  const b = new Builder();
  const map = new Map<Value, Value>();
  const entered = new Map<Value, Value>();
  for (const v of m.values) {
    const meta = { name: v.name, loc: v.loc };
    const s = splits.get(v);
    if (v.op === 'input' || v.op === 'param' || v.op === 'state') {
      const shape = v.type.shape.map((d, i) => (s && i === s.axis ? (d as number) / t : d));
      const attrs = s ? { ...v.attrs, ...splitAttrs(s, t) } : v.attrs;
      map.set(v, b.leaf(v.op, leafName(v), { ...v.type, shape }, attrs, meta));
      continue;
    }
    let inputs = v.inputs.map((x) => map.get(x)!);
    if (starts.has(v)) {
      const x = v.inputs[0]!;
      if (!entered.has(x)) entered.set(x, b.op('tp_copy', [inputs[0]!], group, { name: x.name, loc: x.loc }));
      inputs = [entered.get(x)!, ...inputs.slice(1)];
    }
    const y = b.op(v.op as never, inputs, localAttrs(v, s, t), meta);
    map.set(v, ends.has(v) ? b.op('tp_reduce', [y], group, meta) : y);
  }
  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: map.get(o.value)! })),
    updates: m.updates.map((u) => ({ ...u, value: map.get(u.value)! })),
  };
}
