import type { Module, Value } from '../ir/graph.ts';
import type { NDArray } from '../ir/op.ts';
import { stagesOf } from '../ir/stages.ts';
import { padAxis, sliceOf } from '../ir/ops/util.ts';
import type { Tensors } from './interpret.ts';
import { type Shard, type ShardGroup, shardOf } from '../passes/partition-tensor.ts';

export { sliceOf };

/** Rank `index`'s slice of a whole leaf split as `s` (the whole padded first, where the split pads it). */
export const shardSlice = (x: NDArray, s: Shard, index: number): NDArray =>
  sliceOf(padAxis(x, s.axis, s.pad), s.axis, s.parts, index, s.outer);

/**
 * How a partitioned program's ranks are laid out: `pipeline` stages (1 unless given) of `data` replicas (1 unless
 * given) of `tensor` ranks each, tensor innermost as Megatron orders them (a tensor group's ranks are neighbours, in
 * one node): rank = (p · data + d) · tensor + t.
 */
export interface RankLayout {
  tensor: number;
  data?: number;
  pipeline?: number;
  /** Expert parallelism: groups of this many neighbouring replicas split each MoE layer's experts (it divides data). */
  expert?: number;
}

/** `4 ranks: tensor 2 × pipeline 2`, `8 ranks: data 8, experts over 4` */
export const ranksText = (l: RankLayout): string => {
  const axes = (['tensor', 'data', 'pipeline'] as const).filter((k) => (l[k] ?? 1) > 1);
  const experts = (l.expert ?? 1) > 1 ? `, experts over ${l.expert}` : '';
  return `${rankCount(l)} ranks: ${axes.map((k) => `${k} ${l[k]}`).join(' × ')}${experts}`;
};

export const rankCount = (l: RankLayout) => l.tensor * (l.data ?? 1) * (l.pipeline ?? 1);
export const tensorIndex = (l: RankLayout, rank: number) => rank % l.tensor;
export const dataIndex = (l: RankLayout, rank: number) => Math.floor(rank / l.tensor) % (l.data ?? 1);
export const pipeIndex = (l: RankLayout, rank: number) => Math.floor(rank / (l.tensor * (l.data ?? 1)));
/** Which share of the experts a rank holds: its replica's place in its expert group. */
export const expertIndex = (l: RankLayout, rank: number) => dataIndex(l, rank) % (l.expert ?? 1);
/** Which slice of a leaf split over `group`'s ranks a rank holds. */
export const shardIndex = (l: RankLayout, rank: number, group: ShardGroup = 'tensor') =>
  group === 'expert' ? expertIndex(l, rank) : tensorIndex(l, rank);
/** The rank at pipeline position `pipe` holding what `rank` holds (its tensor slice, its replica's batch). */
export const peerOf = (l: RankLayout, rank: number, pipe: number) =>
  rank + (pipe - pipeIndex(l, rank)) * l.tensor * (l.data ?? 1);

/** The ranks grouped by `key`, groups in order of their first rank. */
function groupBy(l: RankLayout, key: (r: number) => string): number[][] {
  const groups = new Map<string, number[]>();
  for (let r = 0; r < rankCount(l); r++) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  return [...groups.values()];
}

/**
 * The groups of ranks a collective runs over: its `group` axis's (`tensor`: each replica's tensor ranks; `expert`: the
 * ranks of the same tensor slice and stage in each group of `expert` neighbouring replicas).
 */
export function rankGroups(l: RankLayout): (v: Pick<Value, 'attrs'>) => number[][] {
  const tensor = groupBy(l, (r) => String(Math.floor(r / l.tensor)));
  const ep = l.expert ?? 1;
  const expert = groupBy(l, (r) => `${pipeIndex(l, r)} ${tensorIndex(l, r)} ${Math.floor(dataIndex(l, r) / ep)}`);
  return (v) => {
    if (v.attrs['group'] === 'tensor') return tensor;
    if (v.attrs['group'] === 'expert') return expert;
    throw new Error(`internal: no rank group "${String(v.attrs['group'])}"`);
  };
}

/** How data parallelism averages the gradients over its replicas. */
export interface DataGroups {
  /** The ranks holding the same slices, one per replica: a gradient is their mean. */
  groups: number[][];
  /**
   * With expert parallelism, the ranks holding the same experts, one per expert group: an expert's gradient, summed
   * over its group's tokens by the all-to-all's gradient, is their sum over all the replicas.
   */
  experts: number[][];
  replicas: number;
}

export const dataGroups = (l: RankLayout): DataGroups => {
  const same = (r: number) => `${pipeIndex(l, r)} ${tensorIndex(l, r)}`;
  return {
    groups: groupBy(l, same),
    experts: groupBy(l, (r) => `${same(r)} ${expertIndex(l, r)}`),
    replicas: l.data ?? 1,
  };
};

/**
 * The groups a gradient is averaged over (that of a leaf split over `group`, or whole), and what their sum is divided
 * by: the replicas.
 */
export const averagedOver = (d: DataGroups, group?: ShardGroup): { groups: number[][]; over: number } => ({
  groups: group === 'expert' ? d.experts : d.groups,
  over: d.replicas,
});

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
    out.set(name, s ? shardSlice(x, s, shardIndex(l, rank, s.group)) : x);
  }
  return out;
}
