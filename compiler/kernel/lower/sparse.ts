import type { Value } from '../../ir/graph.ts';
import { bool } from '../../ir/ops/util.ts';
import * as K from '../build.ts';
import { count, flat, type Lowering, read, res, shape } from './common.ts';

/** Features per invocation of the cpu-class spmm: a row's run of columns accumulated in registers. */
const CHUNK = 32;

/**
 * spmm gathers along CSR rows (Aᵀ uses its own CSR). GPU class: one invocation per (row, feature) of the result,
 * neighbouring invocations reading neighbouring features. CPU class: one invocation per row and run of up to 32
 * features, reading each entry of the row once and accumulating the run in registers (native code vectorises it).
 */
export const sparseLowerings: Record<string, Lowering> = {
  spmm: (v: Value, cls) => {
    const t = bool(v.attrs, 'transpose') ? 3 : 0;
    return csrKernel(v, cls, t, 6);
  },
  spmm_csr: (v: Value, cls) => csrKernel(v, cls, 0, 3),
  spmm_edge: (v: Value, cls) => csrKernel(v, cls, 0, 3),
  spmm_acc: (v: Value, cls) => csrKernel(v, cls, 1, 4, 0),
};

/**
 * The product of the CSR at operands t, t+1, t+2 (row pointers, column ids, values) and the matrix at operand x. Values
 * [nnz, H] weight each head's f / H consecutive features (graph attention); the CPU class's runs stay within a head.
 * With `acc`, each element's sum starts from that operand's element instead of 0 (spmm_acc).
 */
function csrKernel(v: Value, cls: Parameters<Lowering>[1], t: number, x: number, acc?: number): ReturnType<Lowering> {
  const f = shape(v)[1]!;
  const hs = (v.inputs[t + 2]!.type.shape[1] as number | undefined) ?? 1;
  const per = f / hs;
  const [i, r, j, e, c] = [K.ref('i'), K.ref('r'), K.ref('j'), K.ref('e'), K.ref('c')];
  const ptr = (at: ReturnType<typeof K.ref>) => K.cast('u32', read(v, t, at));
  const col = K.cast('u32', read(v, t + 1, e));
  /** The entry's weight for the head of feature `feat`. */
  const weight = (feat: ReturnType<typeof K.ref>) =>
    read(v, t + 2, hs === 1 ? e : K.add(K.mul(e, K.u32(hs)), K.div(feat, K.u32(per))));
  if (cls === 'gpu')
    return flat(count(v), [
      K.let_('r', K.div(i, K.u32(f))),
      K.let_('j', K.mod(i, K.u32(f))),
      K.var_('acc', acc === undefined ? K.f32(0) : read(v, acc, i)),
      K.loop('e', ptr(r), ptr(K.add(r, K.u32(1))), [
        K.set('acc', K.mul(weight(j), read(v, x, K.add(K.mul(col, K.u32(f)), j))), '+'),
      ]),
      K.store(res, i, K.ref('acc', 'f32')),
    ]);
  const width = Math.min(per, CHUNK);
  const runs = Math.ceil(per / width); // per head
  const chunks = runs * hs;
  const n = per % width ? null : width; // a partial last run bounds its loops by the head's end
  const j0 = K.ref('j0');
  const start =
    hs === 1
      ? K.mul(K.mod(i, K.u32(chunks)), K.u32(width))
      : K.add(
          K.mul(K.div(K.mod(i, K.u32(chunks)), K.u32(runs)), K.u32(per)),
          K.mul(K.mod(K.mod(i, K.u32(chunks)), K.u32(runs)), K.u32(width)),
        );
  const headEnd = hs === 1 ? K.u32(f) : K.add(K.mul(K.div(j0, K.u32(per)), K.u32(per)), K.u32(per));
  const end = n === null ? K.min(K.u32(width), K.sub(headEnd, j0)) : K.u32(width);
  const o = K.ref('o');
  const offset = K.let_('o', K.add(K.mul(r, K.u32(f)), j0)); // the run's first element in the result
  return flat(shape(v)[0]! * chunks, [
    K.let_('r', K.div(i, K.u32(chunks))),
    K.let_('j0', start),
    K.let_('w', end),
    K.array('acc', 'f32', width),
    ...(acc === undefined
      ? []
      : [offset, K.loop('j', K.u32(0), K.ref('w'), [K.setAt('acc', j, read(v, acc, K.add(o, j)))])]),
    K.loop('e', ptr(r), ptr(K.add(r, K.u32(1))), [
      K.let_('a', weight(j0)),
      K.let_('c', K.add(K.mul(col, K.u32(f)), j0)),
      K.loop('j', K.u32(0), K.ref('w'), [K.setAt('acc', j, K.mul(K.ref('a', 'f32'), read(v, x, K.add(c, j))), '+')]),
    ]),
    ...(acc === undefined ? [offset] : []),
    K.loop('j', K.u32(0), K.ref('w'), [K.store(res, K.add(o, j), K.load('acc', j))]),
  ]);
}
