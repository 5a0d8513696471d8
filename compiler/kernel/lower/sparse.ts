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
};

/** The product of the CSR at operands t, t+1, t+2 (row pointers, column ids, values) and the matrix at operand x. */
function csrKernel(v: Value, cls: Parameters<Lowering>[1], t: number, x: number): ReturnType<Lowering> {
  const f = shape(v)[1]!;
  const [i, r, j, e, c] = [K.ref('i'), K.ref('r'), K.ref('j'), K.ref('e'), K.ref('c')];
  const ptr = (at: ReturnType<typeof K.ref>) => K.cast('u32', read(v, t, at));
  const col = K.cast('u32', read(v, t + 1, e));
  if (cls === 'gpu')
    return flat(count(v), [
      K.let_('r', K.div(i, K.u32(f))),
      K.let_('j', K.mod(i, K.u32(f))),
      K.var_('acc', K.f32(0)),
      K.loop('e', ptr(r), ptr(K.add(r, K.u32(1))), [
        K.set('acc', K.mul(read(v, t + 2, e), read(v, x, K.add(K.mul(col, K.u32(f)), j))), '+'),
      ]),
      K.store(res, i, K.ref('acc', 'f32')),
    ]);
  const width = Math.min(f, CHUNK);
  const chunks = Math.ceil(f / width);
  const n = f % width ? null : width; // a partial last run bounds its loops by the row's end
  const end = n === null ? K.min(K.u32(width), K.sub(K.u32(f), K.ref('j0'))) : K.u32(width);
  return flat(shape(v)[0]! * chunks, [
    K.let_('r', K.div(i, K.u32(chunks))),
    K.let_('j0', K.mul(K.mod(i, K.u32(chunks)), K.u32(width))),
    K.let_('w', end),
    K.array('acc', 'f32', width),
    K.loop('e', ptr(r), ptr(K.add(r, K.u32(1))), [
      K.let_('a', read(v, t + 2, e)),
      K.let_('c', K.add(K.mul(col, K.u32(f)), K.ref('j0'))),
      K.loop('j', K.u32(0), K.ref('w'), [K.setAt('acc', j, K.mul(K.ref('a', 'f32'), read(v, x, K.add(c, j))), '+')]),
    ]),
    K.let_('o', K.add(K.mul(r, K.u32(f)), K.ref('j0'))),
    K.loop('j', K.u32(0), K.ref('w'), [K.store(res, K.add(K.ref('o'), j), K.load('acc', j))]),
  ]);
}
