import { bool, num } from '../ir/ops/util.ts';
import { rewriteModule } from '../ir/rewrite.ts';
import type { Pass } from './pass.ts';

/**
 * `spmm` carries both A's CSR and Aᵀ's so that its gradient can gather along rows; once the backward pass exists,
 * each product needs only one of them. Each spmm becomes `spmm_csr` over the CSR it reads (A's, or Aᵀ's when
 * transposed) and its matrix: the memory planner, the placement of inputs in host memory and the launches then hold
 * and copy only that CSR (half of the graph's arrays per product). The kernels and the summation order are spmm's.
 * `spmm_edge` (graph attention's product) likewise keeps only its CSR, weights and matrix.
 */
export const lowerSparse: Pass = {
  name: 'lower-sparse',
  doc: 'each sparse product reads only the CSR it uses (A or Aᵀ), after autodiff',
  run(m) {
    if (!m.values.some((v) => v.op === 'spmm' || v.op === 'spmm_edge')) return m;
    return rewriteModule(m, (v, ins, b) => {
      if (v.op === 'spmm_edge')
        return b.op('spmm_csr', ins.slice(0, 4), { cols: num(v.attrs, 'cols') }, { name: v.name, loc: v.loc });
      if (v.op !== 'spmm') return undefined;
      const t = bool(v.attrs, 'transpose') ? 3 : 0;
      const cols = num(v.attrs, t ? 'rows' : 'cols');
      return b.op('spmm_csr', [ins[t]!, ins[t + 1]!, ins[t + 2]!, ins[6]!], { cols }, { name: v.name, loc: v.loc });
    });
  },
};
