import { Builder } from '../ir/builder.ts';
import type { Value } from '../ir/graph.ts';
import { bool, num } from '../ir/ops/util.ts';
import type { Pass } from './pass.ts';

/**
 * `spmm` carries both A's CSR and Aᵀ's so that its gradient can gather along rows; once the backward pass exists,
 * each product needs only one of them. Each spmm becomes `spmm_csr` over the CSR it reads (A's, or Aᵀ's when
 * transposed) and its matrix: the memory planner, the placement of inputs in host memory and the launches then hold
 * and copy only that CSR (half of the graph's arrays per product). The kernels and the summation order are spmm's.
 */
export const lowerSparse: Pass = {
  name: 'lower-sparse',
  doc: 'each sparse product reads only the CSR it uses (A or Aᵀ), after autodiff',
  run(m) {
    if (!m.values.some((v) => v.op === 'spmm')) return m;
    const b = new Builder(m);
    b.values.length = 0;
    const now = new Map<Value, Value>();
    const get = (x: Value) => now.get(x) ?? x;
    for (const v of m.values) {
      const ins = v.inputs.map(get);
      if (v.op === 'spmm') {
        const t = bool(v.attrs, 'transpose') ? 3 : 0;
        const cols = num(v.attrs, bool(v.attrs, 'transpose') ? 'rows' : 'cols');
        now.set(
          v,
          b.op('spmm_csr', [ins[t]!, ins[t + 1]!, ins[t + 2]!, ins[6]!], { cols }, { name: v.name, loc: v.loc }),
        );
      } else if (ins.some((x, k) => x !== v.inputs[k])) now.set(v, b.again(v, ins, { name: v.name, loc: v.loc }));
      else b.values.push(v);
    }
    return {
      ...m,
      values: b.values,
      outputs: m.outputs.map((o) => ({ ...o, value: get(o.value) })),
      updates: m.updates.map((u) => ({ ...u, value: get(u.value) })),
    };
  },
};
