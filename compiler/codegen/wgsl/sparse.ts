import type { Value } from '../../ir/graph.ts';
import { bool } from '../../ir/ops/util.ts';
import { count, type Emitter, linear, shape, u32, WG } from './kernel.ts';

/** spmm: one thread per (row, feature) of the result, gathering along the CSR row (Aᵀ uses its own CSR). */
export const sparseEmitters: Record<string, Emitter> = {
  spmm: (v: Value) => {
    const t = bool(v.attrs, 'transpose') ? 3 : 0;
    const f = shape(v)[1]!;
    const { dispatch, index } = linear(count(v));
    return {
      workgroup: [WG, 1, 1],
      dispatch,
      body: `${index}
  let r = i / ${u32(f)};
  let j = i % ${u32(f)};
  var acc = 0.0f;
  for (var e = a${t}[r]; e < a${t}[r + 1u]; e++) {
    acc += a${t + 2}[e] * a6[u32(a${t + 1}[e]) * ${u32(f)} + j];
  }
  res[i] = acc;`,
    };
  },
};
