import type { Module, Value } from '../ir/graph.ts';
import { sliceOf } from '../ir/ops/util.ts';
import type { Tensors } from './interpret.ts';
import { shardOf } from '../passes/partition-tensor.ts';

export { sliceOf };

/**
 * How a partitioned program's ranks are laid out: `data` replicas (1 unless given) of `tensor` ranks each, tensor
 * innermost as Megatron orders them (a tensor group's ranks are neighbours, in one node): rank = d · tensor + t.
 */
export interface RankLayout {
  tensor: number;
  data?: number;
}

export const rankCount = (l: RankLayout) => l.tensor * (l.data ?? 1);
export const tensorIndex = (l: RankLayout, rank: number) => rank % l.tensor;
export const dataIndex = (l: RankLayout, rank: number) => Math.floor(rank / l.tensor);

const ranksWhere = (l: RankLayout, keep: (r: number) => boolean) => [...Array(rankCount(l)).keys()].filter(keep);

/** The groups of ranks a collective runs over: its `group` axis's (`tensor`: each replica's tensor ranks). */
export function rankGroups(l: RankLayout): (v: Value) => number[][] {
  const groups = [...Array(l.data ?? 1).keys()].map((d) => ranksWhere(l, (r) => dataIndex(l, r) === d));
  return (v) => {
    if (v.attrs['group'] !== 'tensor') throw new Error(`internal: no rank group "${String(v.attrs['group'])}"`);
    return groups;
  };
}

/** The data-parallel groups: the ranks holding the same slices, one per replica, whose gradients are averaged. */
export const dataGroups = (l: RankLayout): number[][] =>
  [...Array(l.tensor).keys()].map((t) => ranksWhere(l, (r) => tensorIndex(l, r) === t));

/**
 * A rank's parameters and optimizer state from the whole program's: each leaf the rank holds a slice of (a split
 * weight, its bias, their optimizer state) sliced at the rank's tensor index, the rest as they are.
 */
export function shardParams(rankModule: Module, whole: Tensors, l: RankLayout, rank: number): Tensors {
  const out: Tensors = new Map();
  for (const v of rankModule.values) {
    if (v.op !== 'param' && v.op !== 'state') continue;
    const name = String(v.attrs['name']);
    const x = whole.get(name);
    if (!x) throw new Error(`no parameter or state named "${name}" in the whole program`);
    const s = shardOf(v);
    out.set(name, s ? sliceOf(x, s.axis, s.parts, tensorIndex(l, rank), s.outer) : x);
  }
  return out;
}
