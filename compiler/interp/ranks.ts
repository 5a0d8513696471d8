import type { Module, Value } from '../ir/graph.ts';
import { stagesOf } from '../ir/stages.ts';
import { sliceOf } from '../ir/ops/util.ts';
import type { Tensors } from './interpret.ts';
import { shardOf } from '../passes/partition-tensor.ts';

export { sliceOf };

/**
 * How a partitioned program's ranks are laid out: `pipeline` stages (1 unless given) of `data` replicas (1 unless
 * given) of `tensor` ranks each, tensor innermost as Megatron orders them (a tensor group's ranks are neighbours, in
 * one node): rank = (p · data + d) · tensor + t.
 */
export interface RankLayout {
  tensor: number;
  data?: number;
  pipeline?: number;
}

/** `4 ranks: tensor 2 × pipeline 2` */
export const ranksText = (l: RankLayout): string => {
  const axes = (['tensor', 'data', 'pipeline'] as const).filter((k) => (l[k] ?? 1) > 1);
  return `${rankCount(l)} ranks: ${axes.map((k) => `${k} ${l[k]}`).join(' × ')}`;
};

export const rankCount = (l: RankLayout) => l.tensor * (l.data ?? 1) * (l.pipeline ?? 1);
export const tensorIndex = (l: RankLayout, rank: number) => rank % l.tensor;
export const dataIndex = (l: RankLayout, rank: number) => Math.floor(rank / l.tensor) % (l.data ?? 1);
export const pipeIndex = (l: RankLayout, rank: number) => Math.floor(rank / (l.tensor * (l.data ?? 1)));
/** The rank at pipeline position `pipe` holding what `rank` holds (its tensor slice, its replica's batch). */
export const peerOf = (l: RankLayout, rank: number, pipe: number) =>
  rank + (pipe - pipeIndex(l, rank)) * l.tensor * (l.data ?? 1);

const ranksWhere = (l: RankLayout, keep: (r: number) => boolean) => [...Array(rankCount(l)).keys()].filter(keep);

/** The groups of ranks a collective runs over: its `group` axis's (`tensor`: each replica's tensor ranks). */
export function rankGroups(l: RankLayout): (v: Value) => number[][] {
  const replicas = [...Array((l.data ?? 1) * (l.pipeline ?? 1)).keys()];
  const groups = replicas.map((k) => ranksWhere(l, (r) => Math.floor(r / l.tensor) === k));
  return (v) => {
    if (v.attrs['group'] !== 'tensor') throw new Error(`internal: no rank group "${String(v.attrs['group'])}"`);
    return groups;
  };
}

/** The data-parallel groups: the ranks holding the same slices, one per replica, whose gradients are averaged. */
export const dataGroups = (l: RankLayout): number[][] =>
  [...Array(l.tensor * (l.pipeline ?? 1)).keys()].map((k) =>
    ranksWhere(l, (r) => tensorIndex(l, r) === k % l.tensor && pipeIndex(l, r) === Math.floor(k / l.tensor)),
  );

/**
 * A rank's parameters and optimizer state from the whole program's: those of its pipeline stages, each leaf the rank
 * holds a slice of (a split weight, its bias, their optimizer state) sliced at the rank's tensor index, the rest as
 * they are.
 */
export function shardParams(rankModule: Module, whole: Tensors, l: RankLayout, rank: number): Tensors {
  const out: Tensors = new Map();
  const st = stagesOf(rankModule);
  const here = (v: Value) => !st || st.stage.get(v)! % (l.pipeline ?? 1) === pipeIndex(l, rank);
  for (const v of rankModule.values) {
    if ((v.op !== 'param' && v.op !== 'state') || !here(v)) continue;
    const name = String(v.attrs['name']);
    const x = whole.get(name);
    if (!x) throw new Error(`no parameter or state named "${name}" in the whole program`);
    const s = shardOf(v);
    out.set(name, s ? sliceOf(x, s.axis, s.parts, tensorIndex(l, rank), s.outer) : x);
  }
  return out;
}
