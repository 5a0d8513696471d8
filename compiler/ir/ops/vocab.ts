import type { NDArray, OpDef } from '../op.ts';
import { bytesOf, elems, IndexOutOfRange } from '../op.ts';
import type { Value } from '../graph.ts';
import { ShapeError, type TensorType } from '../types.ts';
import { GROUP_ATTRS, num, oneRank, size } from './util.ts';

/**
 * Megatron's vocabulary-parallel embedding and cross-entropy (Shoeybi et al. 2019, §3; Narayanan et al. 2021): a
 * table's V rows (or an output layer's V columns) split over a tensor-parallel group of `ranks`, rank r holding
 * classes r·V/n … (r+1)·V/n − 1 (`group`, `ranks` as the other collectives). Each op's result on a rank comes from
 * every rank's operands — on one rank alone (`ranks` 1) it is the plain op — so each is a collective: in a runtime
 * holding every rank (compiler/interp/ranks.ts) and over NCCL, a local step and an all-reduce.
 *
 * - `vp_embed(shard [V/n, d], ids i32[...])` [..., d]: each id's row from the rank holding it (each rank gathers the
 *   ids in its range, zeros elsewhere; all-reduce sum).
 * - `vp_embed_grad(shard, ids, dy)`: the rank's rows of the table's gradient (dy is whole on every rank): no exchange.
 * - `vp_cross_entropy(logits [..., C/n], targets i32[...])` []: the mean negative log-likelihood over the whole
 *   vocabulary, from each row's maximum, its sum of exponentials and its target's logit (three all-reduces of a value
 *   per row).
 * - `vp_cross_entropy_grad(logits, targets, dy)`: the rank's columns of softmax − one-hot, times dy / rows (the two
 *   all-reduces of the maximum and the sum again).
 *
 * Where the ranks do not divide the vocabulary it is padded (partition-vocab): `classes` is the true V, and the last
 * rank's columns past it are no class (no probability, no gradient) and its rows past it no id's.
 */

/** And the vocabulary's classes, where the ranks' rows or columns pad it to a multiple of the ranks. */
const ATTRS = { ...GROUP_ATTRS, classes: { kind: 'int', optional: true } } as const;

/** The ids' rows, each from the rank holding it: every rank's result (the same). */
function embed(each: NDArray[][]): NDArray[] {
  const [shard0, ids] = each[0]! as [NDArray, NDArray];
  const [n, d] = shard0.shape as [number, number];
  const out = new (shard0.data.constructor as new (k: number) => NDArray['data'])(ids.data.length * d);
  for (let k = 0; k < ids.data.length; k++) {
    const id = ids.data[k]!;
    const r = Math.floor(id / n);
    if (!(id >= 0 && r < each.length)) throw new IndexOutOfRange(`vp_embed: index ${id} is out of range`);
    out.set(each[r]![0]!.data.subarray((id - r * n) * d, (id - r * n + 1) * d), k * d);
  }
  return each.map(() => ({ data: out.slice(), shape: [...ids.shape, d] }));
}

/** Each rank's rows of Σ over the ids of dy's rows (scatter-add), its own range only. */
function embedGrad(each: NDArray[][]): NDArray[] {
  return each.map(([shard, ids, dy], r) => {
    const [n, d] = shard!.shape as [number, number];
    const out = new (shard!.data.constructor as new (k: number) => NDArray['data'])(n * d);
    for (let k = 0; k < ids!.data.length; k++) {
      const row = ids!.data[k]! - r * n;
      if (row < 0 || row >= n) continue;
      for (let j = 0; j < d; j++) out[row * d + j]! += dy!.data[k * d + j]!;
    }
    return { data: out, shape: shard!.shape };
  });
}

/** The classes of the whole vocabulary: `classes`, where the ranks' columns pad it, else all of them. */
const classesOf = (v: Value, shards: NDArray[]) => num(v.attrs, 'classes', shards.length * shards[0]!.shape.at(-1)!);

/**
 * Per row of the whole logits (each rank's columns side by side, the first `classes` of them real): the maximum and
 * the sum of exp(logit − max).
 */
function rowStats(shards: NDArray[], rows: number, classes: number): { mx: Float64Array; s: Float64Array } {
  const c = shards[0]!.shape.at(-1)!;
  const mx = new Float64Array(rows).fill(-Infinity);
  const s = new Float64Array(rows);
  const cols = (k: number) => Math.max(0, Math.min(c, classes - k * c));
  shards.forEach((x, k) => {
    for (let r = 0; r < rows; r++) for (let j = 0; j < cols(k); j++) mx[r] = Math.max(mx[r]!, x.data[r * c + j]!);
  });
  shards.forEach((x, k) => {
    for (let r = 0; r < rows; r++) for (let j = 0; j < cols(k); j++) s[r]! += Math.exp(x.data[r * c + j]! - mx[r]!);
  });
  return { mx, s };
}

/** A target's rank and column among the shards of c columns, checked against the whole vocabulary. */
function targetOf(y: number, c: number, classes: number): [number, number] {
  if (!(y >= 0 && y < classes))
    throw new IndexOutOfRange(`vp_cross_entropy: target ${y} is out of range for ${classes} classes`);
  return [Math.floor(y / c), y % c];
}

function crossEntropy(each: NDArray[][], v: Value): NDArray[] {
  const shards = each.map((x) => x[0]!);
  const targets = each[0]![1]!;
  const rows = targets.data.length;
  const c = shards[0]!.shape.at(-1)!;
  const classes = classesOf(v, shards);
  const { mx, s } = rowStats(shards, rows, classes);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const [k, j] = targetOf(targets.data[r]!, c, classes);
    total += mx[r]! + Math.log(s[r]!) - shards[k]!.data[r * c + j]!;
  }
  const data = new (shards[0]!.data.constructor as new (k: number) => NDArray['data'])(1);
  data[0] = total / rows;
  return each.map(() => ({ data: data.slice(), shape: [] }));
}

function crossEntropyGrad(each: NDArray[][], v: Value): NDArray[] {
  const shards = each.map((x) => x[0]!);
  const [, targets, dy] = each[0]! as [NDArray, NDArray, NDArray];
  const rows = targets.data.length;
  const c = shards[0]!.shape.at(-1)!;
  const classes = classesOf(v, shards);
  const { mx, s } = rowStats(shards, rows, classes);
  const g = dy.data[0]! / rows;
  return shards.map((x, k) => {
    // a padding column (past the vocabulary) has no probability and no gradient
    const cols = Math.max(0, Math.min(c, classes - k * c));
    const out = new (x.data.constructor as new (n: number) => NDArray['data'])(x.data.length);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < cols; j++) out[r * c + j] = (Math.exp(x.data[r * c + j]! - mx[r]!) / s[r]!) * g;
      const [at, j] = targetOf(targets.data[r]!, c, classes);
      if (at === k) out[r * c + j]! -= g;
    }
    return { data: out, shape: x.shape };
  });
}

/** The plain op's reference on one rank (the whole table or logits). */
const whole = (name: string, f: (each: NDArray[][], v: Value) => NDArray[]): OpDef['ref'] =>
  oneRank(name, (inputs, v) => f([inputs], v)[0]!);

function requireIds(t: TensorType, op: string): void {
  if (t.dtype !== 'i32') throw new ShapeError(`${op} indices must be i32, got ${t.dtype}`);
}

export const vocabOps: OpDef[] = [
  {
    name: 'vp_embed',
    class: 'elementwise',
    arity: 2,
    attrs: ATTRS,
    infer: ([t, i]) => {
      if (t!.shape.length !== 2) throw new ShapeError(`vp_embed takes a table [V/n, d], got [${t!.shape}]`);
      requireIds(i!, 'vp_embed');
      return { dtype: t!.dtype, shape: [...i!.shape, t!.shape[1]!] };
    },
    grad: (b, v, dy) => [b.op('vp_embed_grad', [v.inputs[0]!, v.inputs[1]!, dy], v.attrs), undefined],
    cost: (v) => {
      const bytes = 2 * bytesOf(v.type) + bytesOf(v.inputs[1]!.type);
      return { flops: 0, bytes, gathered: bytes };
    },
    ref: whole('vp_embed', embed),
    collective: embed,
  },
  {
    name: 'vp_embed_grad',
    class: 'elementwise',
    arity: 3,
    attrs: ATTRS,
    infer: ([t]) => ({ ...t! }),
    noGrad: 'backward op (no second-order derivatives)',
    cost: (v) => {
      const bytes = bytesOf(v.type) + bytesOf(v.inputs[1]!.type) + bytesOf(v.inputs[2]!.type);
      return { flops: elems(v.inputs[2]!.type), bytes, gathered: bytes };
    },
    ref: whole('vp_embed_grad', embedGrad),
    collective: embedGrad,
  },
  {
    name: 'vp_cross_entropy',
    class: 'elementwise',
    arity: 2,
    attrs: ATTRS,
    infer: ([l, t]) => {
      requireIds(t!, 'vp_cross_entropy targets');
      if (size(l!.shape.slice(0, -1) as number[]) !== size(t!.shape as number[]))
        throw new ShapeError(`logits [${l!.shape}] need one target a row, got [${t!.shape}]`);
      return { dtype: l!.dtype, shape: [] };
    },
    grad: (b, v, dy) => [b.op('vp_cross_entropy_grad', [v.inputs[0]!, v.inputs[1]!, dy], v.attrs), undefined],
    cost: (v) => ({
      flops: 5 * elems(v.inputs[0]!.type),
      bytes: bytesOf(v.inputs[0]!.type) + bytesOf(v.inputs[1]!.type),
    }),
    ref: whole('vp_cross_entropy', crossEntropy),
    collective: crossEntropy,
  },
  {
    name: 'vp_cross_entropy_grad',
    class: 'elementwise',
    arity: 3,
    attrs: ATTRS,
    infer: ([l]) => ({ ...l! }),
    noGrad: 'backward op (no second-order derivatives)',
    cost: (v) => ({ flops: 5 * elems(v.type), bytes: 2 * bytesOf(v.type) }),
    ref: whole('vp_cross_entropy_grad', crossEntropyGrad),
    collective: crossEntropyGrad,
  },
];
