import type { Module, Value } from '../ir/graph.ts';
import type { NDArray } from '../ir/op.ts';
import { strides } from '../ir/ops/util.ts';
import type { Tensors } from './interpret.ts';

/** How a partitioned program's ranks are laid out: `tensor` ranks, one tensor-parallel group. */
export interface RankLayout {
  tensor: number;
}

export const rankCount = (l: RankLayout) => l.tensor;
export const tensorIndex = (l: RankLayout, rank: number) => rank % l.tensor;

/** The groups of ranks a collective runs over: its `group` axis's. */
export function rankGroups(l: RankLayout): (v: Value) => number[][] {
  const ranks = [...Array(rankCount(l)).keys()];
  return (v) => {
    if (v.attrs['group'] !== 'tensor') throw new Error(`internal: no rank group "${String(v.attrs['group'])}"`);
    return [ranks];
  };
}

/** Part `index` of `parts` equal slices of x along `axis`. */
export function sliceOf(x: NDArray, axis: number, parts: number, index: number): NDArray {
  const shape = x.shape.map((d, i) => (i === axis ? d / parts : d));
  const outer = x.shape.slice(0, axis).reduce((a, d) => a * d, 1);
  const inner = strides(x.shape)[axis]!;
  const run = shape[axis]! * inner;
  const data = new (x.data.constructor as new (n: number) => NDArray['data'])(outer * run);
  for (let o = 0; o < outer; o++)
    data.set(
      x.data.subarray(o * x.shape[axis]! * inner + index * run, o * x.shape[axis]! * inner + (index + 1) * run),
      o * run,
    );
  return { data, shape };
}

/** The axis along which a rank's leaf is a slice of the whole tensor, and how many slices (none: it is whole). */
function splitAxis(whole: readonly number[], part: readonly number[]): [number, number] | undefined {
  const i = whole.findIndex((d, k) => d !== part[k]);
  return i < 0 ? undefined : [i, whole[i]! / part[i]!];
}

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
    const s = splitAxis(x.shape, v.type.shape as number[]);
    out.set(name, s ? sliceOf(x, s[0], s[1], tensorIndex(l, rank)) : x);
  }
  return out;
}
