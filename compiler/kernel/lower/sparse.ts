import type { Value } from '../../ir/graph.ts';
import { bool } from '../../ir/ops/util.ts';
import * as K from '../build.ts';
import { count, flat, type Lowering, read, res, shape } from './common.ts';

/** spmm: one invocation per (row, feature) of the result, gathering along the CSR row (Aᵀ uses its own CSR). */
export const sparseLowerings: Record<string, Lowering> = {
  spmm: (v: Value) => {
    const t = bool(v.attrs, 'transpose') ? 3 : 0;
    const f = shape(v)[1]!;
    const [i, r, j, e] = [K.ref('i'), K.ref('r'), K.ref('j'), K.ref('e')];
    const ptr = (at: ReturnType<typeof K.ref>) => K.cast('u32', read(v, t, at));
    const col = K.cast('u32', read(v, t + 1, e));
    return flat(count(v), [
      K.let_('r', K.div(i, K.u32(f))),
      K.let_('j', K.mod(i, K.u32(f))),
      K.var_('acc', K.f32(0)),
      K.loop('e', ptr(r), ptr(K.add(r, K.u32(1))), [
        K.set('acc', K.mul(read(v, t + 2, e), read(v, 6, K.add(K.mul(col, K.u32(f)), j))), '+'),
      ]),
      K.store(res, i, K.ref('acc', 'f32')),
    ]);
  },
};
