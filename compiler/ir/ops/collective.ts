import type { Attrs } from '../graph.ts';
import type { NDArray, OpDef } from '../op.ts';
import type { OpName } from '../op-names.ts';
import { ShapeError, type TensorType } from '../types.ts';
import { GROUP_ATTRS, num, oneRank, sliceOf } from './util.ts';
import { vocabOps } from './vocab.ts';

/**
 * Collectives over a group of ranks (`group`: which of a partition's axes, e.g. `tensor`; `ranks`: its size): each
 * rank's result from every rank's operands. Megatron's two conjugate operators of tensor parallelism (Shoeybi et al.
 * 2019, §3): `tp_copy` (f) is the identity forward and sums its gradient over the group, `tp_reduce` (g) sums over the
 * group forward and passes its gradient through. One rank alone computes them locally; with more, only a runtime
 * that holds every rank of the group can (compiler/interp/ranks.ts; NCCL on GPUs).
 */
export const sumOverRanks = (each: NDArray[]): NDArray[] => {
  const out = new Float64Array(each[0]!.data.length);
  for (const x of each) for (let i = 0; i < out.length; i++) out[i]! += x.data[i]!;
  return each.map((x) => {
    const data = new (x.data.constructor as new (n: number) => NDArray['data'])(out.length);
    data.set(out);
    return { data, shape: x.shape };
  });
};

/** One rank alone: the identity. */
const local = (name: string) => oneRank(name, (inputs) => inputs[0]!);

const ATTRS = GROUP_ATTRS;
const SEQ_ATTRS = { ...ATTRS, axis: { kind: 'int' } } as const;

/** The ranks' slices joined along `axis`, the same on every rank. */
const joined = (each: NDArray[], axis: number): NDArray[] => {
  const n = each.length;
  const x = each[0]!;
  const shape = x.shape.map((d, i) => (i === axis ? d * n : d));
  const outer = x.shape.slice(0, axis).reduce((a, d) => a * d, 1);
  const run = x.shape.slice(axis).reduce((a, d) => a * d, 1);
  const data = new (x.data.constructor as new (n: number) => NDArray['data'])(outer * run * n);
  for (let o = 0; o < outer; o++)
    each.forEach((e, r) => data.set(e.data.subarray(o * run, (o + 1) * run), (o * n + r) * run));
  return each.map(() => ({ data: data.slice(), shape }));
};

/** A sequence collective's result: `axis` grown (joined) or cut (split) by its ranks. */
function seqShape(name: string, x: TensorType, a: Attrs, grow: boolean): TensorType {
  const [axis, ranks] = [num(a, 'axis'), num(a, 'ranks')];
  const d = x.shape[axis] as number;
  if (!grow && d % ranks) throw new ShapeError(`${name}: axis ${axis} (${d}) does not split over ${ranks} ranks`);
  return { ...x, shape: x.shape.map((s, i) => (i === axis ? (grow ? d * ranks : d / ranks) : s)) };
}

/**
 * Sequence parallelism's (Korthikanti et al. 2022, §4.2.2) collectives along the sequence axis `axis`: between the
 * tensor-parallel layers every rank holds 1/t of the tokens. `seq_split` takes the rank's tokens of a value every rank
 * holds whole (its gradient all-gathered); `seq_gather` joins them again for an op every rank runs whole (its gradient
 * the rank's slice); `seq_gather_tp` joins them for a tensor-parallel layer (Megatron's g with sequence parallelism:
 * its gradient, partial on each rank, reduce-scattered); `seq_reduce_scatter` sums a layer's partial products and
 * keeps the rank's tokens (ḡ: its gradient all-gathered).
 */
const seqOp = (
  name: 'seq_split' | 'seq_gather' | 'seq_gather_tp' | 'seq_reduce_scatter',
  grow: boolean,
  grad: OpName,
  collective: (each: NDArray[], axis: number) => NDArray[],
): OpDef => ({
  name,
  class: 'elementwise',
  arity: 1,
  attrs: SEQ_ATTRS,
  infer: ([x], a) => seqShape(name, x!, a, grow),
  grad: (b, v, dy) => [b.op(grad, [dy], v.attrs)],
  cost: () => ({ flops: 0, bytes: 0 }),
  ref: local(name),
  collective: (each, v) =>
    collective(
      each.map((x) => x[0]!),
      num(v.attrs, 'axis'),
    ),
});

/**
 * Expert parallelism's all-to-all (GShard: Lepikhin et al. 2021, §2.2): each rank's operand cut along `split` into
 * `ranks` chunks, chunk j sent to rank j of the group, which joins the chunks it receives along `join` in rank order.
 * An MoE layer's dispatch sends each expert's rows [E, C, d] to the rank holding the expert (split 0, join 1: [E/n,
 * n·C, d], rank r's tokens at slots r·C…), its combine sends them back (split 1, join 0); each is the other's gradient.
 */
const allToAll: OpDef = {
  name: 'ep_all_to_all',
  class: 'elementwise',
  arity: 1,
  attrs: { ...ATTRS, split: { kind: 'int' }, join: { kind: 'int' } },
  infer: ([x], a) => {
    const [split, join, n] = [num(a, 'split'), num(a, 'join'), num(a, 'ranks')];
    const d = x!.shape[split];
    if (typeof d !== 'number' || d % n || x!.shape[join] === undefined || split === join)
      throw new ShapeError(`ep_all_to_all: axis ${split} of [${x!.shape}] does not split over ${n} ranks`);
    return {
      ...x!,
      shape: x!.shape.map((s, i) => (i === split ? d / n : i === join ? (s as number) * n : s)),
    };
  },
  grad: (b, v, dy) => [b.op('ep_all_to_all', [dy], { ...v.attrs, split: v.attrs['join']!, join: v.attrs['split']! })],
  cost: () => ({ flops: 0, bytes: 0 }),
  ref: local('ep_all_to_all'),
  collective: (each, v) => {
    const [split, join] = [num(v.attrs, 'split'), num(v.attrs, 'join')];
    return each.map(
      (_, j) =>
        joined(
          each.map((x) => sliceOf(x[0]!, split, each.length, j)),
          join,
        )[0]!,
    );
  },
};

export const collectiveOps: OpDef[] = [
  {
    name: 'tp_copy',
    class: 'elementwise',
    arity: 1,
    attrs: ATTRS,
    infer: ([x]) => x!,
    grad: (b, v, dy) => [b.op('tp_reduce', [dy], v.attrs)],
    cost: () => ({ flops: 0, bytes: 0 }),
    ref: local('tp_copy'),
    collective: (each) => each.map((x) => x[0]!),
  },
  {
    name: 'tp_reduce',
    class: 'elementwise',
    arity: 1,
    attrs: ATTRS,
    infer: ([x]) => x!,
    grad: (_b, _v, dy) => [dy],
    cost: () => ({ flops: 0, bytes: 0 }),
    ref: local('tp_reduce'),
    collective: (each) => sumOverRanks(each.map((x) => x[0]!)),
  },
  seqOp('seq_split', false, 'seq_gather', (each, axis) => each.map((x, r) => sliceOf(x, axis, each.length, r))),
  seqOp('seq_gather', true, 'seq_split', joined),
  seqOp('seq_gather_tp', true, 'seq_reduce_scatter', joined),
  seqOp('seq_reduce_scatter', false, 'seq_gather', (each, axis) =>
    sumOverRanks(each).map((x, r) => sliceOf(x, axis, each.length, r)),
  ),
  allToAll,
];

/**
 * Pipeline parallelism's point-to-point transfer: a value computed on stage `from` sent to stage `to` (an activation
 * forward, its gradient back, a weight used on two stages: `weight`, sent once a step, its gradient summed over the
 * micro-batches before it goes back); stage c runs on pipeline rank c mod `pipeline`. Within one
 * process that holds every stage it is the identity; over ranks, the receiving rank's result is the sending rank's
 * operand (compiler/interp/interpret.ts; NCCL's send and recv on GPUs).
 */
export const ppSend: OpDef = {
  name: 'pp_send',
  class: 'elementwise',
  arity: 1,
  attrs: {
    from: { kind: 'int' },
    to: { kind: 'int' },
    pipeline: { kind: 'int' },
    weight: { kind: 'bool', optional: true },
  },
  infer: ([x]) => x!,
  grad: (b, v, dy) => [b.op('pp_send', [dy], { ...v.attrs, from: v.attrs['to']!, to: v.attrs['from']! })],
  cost: () => ({ flops: 0, bytes: 0 }),
  ref: (inputs) => inputs[0]!,
};

/** Ops whose result on a rank depends on other ranks' operands. */
export const COLLECTIVE_OPS: ReadonlySet<string> = new Set([...collectiveOps, ...vocabOps].map((d) => d.name));
