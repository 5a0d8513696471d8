import type { Value } from '../graph.ts';
import type { NDArray, OpDef } from '../op.ts';
import { num } from './util.ts';

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

const local = (name: string) => (inputs: NDArray[], v: Value) => {
  if (num(v.attrs, 'ranks') > 1)
    throw new Error(`internal: ${name} over ${num(v.attrs, 'ranks')} ranks runs only where every rank is`);
  return inputs[0]!;
};

const ATTRS = { group: { kind: 'string' }, ranks: { kind: 'int' } } as const;

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
];

/** Ops whose result on a rank depends on other ranks' operands. */
export const COLLECTIVE_OPS: ReadonlySet<string> = new Set(collectiveOps.map((d) => d.name));
