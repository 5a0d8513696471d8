import { Builder } from '../ir/builder.ts';
import { leafName, type Module, type Value } from '../ir/graph.ts';
import type { Pass } from './pass.ts';

/** The graph a features input is fed from (`graph:<name>/features`), if it is one. */
const graphOf = (v: Value): string | undefined => {
  const f = v.attrs['feed'];
  return v.op === 'input' && typeof f === 'string' && /^graph:[^/]+\/features$/.test(f)
    ? f.slice(6, -'/features'.length)
    : undefined;
};

/** A matmul that reads `x` as its untransposed left operand only. */
const leftOperandOf = (u: Value, x: Value) =>
  u.op === 'matmul' && u.inputs[0] === x && u.inputs[1] !== x && !u.attrs['ta'] && !u.attrs['tb'];

/**
 * Graph features read from CSR files stay sparse, as in Kipf & Welling's code: when every use of such an input is
 * `X @ W`, or `dropout(X) @ W`, X becomes its nonzeros (CSR, with the transpose's structure), dropout acts on the
 * stored values only, and each product is an `spmm` (whose gradient, Xᵀ·dY, is the transposed spmm). The dense matrix
 * is never built: on Cora that is 2708 × 1433 values of which 1.3% are nonzero. Anything else that reads X leaves it
 * dense.
 */
export const sparseFeatures: Pass = {
  name: 'sparse-features',
  doc: 'graph features from CSR files stay sparse: X @ W and dropout(X) @ W become spmm over the nonzeros',
  run(m) {
    const users = new Map<Value, Value[]>();
    for (const v of m.values) for (const x of new Set(v.inputs)) users.set(x, [...(users.get(x) ?? []), v]);
    const outputs = new Set([...m.outputs.map((o) => o.value), ...m.updates.map((u) => u.value)]);
    const sparse = m.values.filter((x) => {
      if (graphOf(x) === undefined || typeof x.attrs['nnz'] !== 'number' || outputs.has(x)) return false;
      return (users.get(x) ?? []).every(
        (u) =>
          leftOperandOf(u, x) ||
          (u.op === 'dropout' &&
            u.inputs[0] === x &&
            !outputs.has(u) &&
            (users.get(u) ?? []).every((w) => leftOperandOf(w, u))),
      );
    });
    if (!sparse.length) return m;
    return rewrite(m, new Set(sparse));
  },
};

function rewrite(m: Module, sparse: Set<Value>): Module {
  const b = new Builder();
  const map = new Map<Value, Value>();
  /** For a sparse input: its CSR leaves; for it and its dropouts: their values in CSR and in the transpose's order. */
  const csr = new Map<Value, { ptr: Value; idx: Value; ptrT: Value; idxT: Value; perm: Value }>();
  const values = new Map<Value, { val: Value; valT: Value; of: Value }>();
  for (const v of m.values) {
    const meta = { name: v.name, loc: v.loc };
    if (sparse.has(v)) {
      const [n, f] = v.type.shape as [number, number];
      const nnz = v.attrs['nnz'] as number;
      const g = graphOf(v)!;
      const base = leafName(v).replace(/\.features$/, '');
      const leaf = (key: string, dtype: 'i32' | 'f32', len: number) =>
        b.leaf('input', `${base}.${key}`, { dtype, shape: [len] }, { feed: `graph:${g}/${key}` }, meta);
      const c = {
        ptr: leaf('feat.indptr', 'i32', n + 1),
        idx: leaf('feat.indices', 'i32', nnz),
        ptrT: leaf('featT.indptr', 'i32', f + 1),
        idxT: leaf('featT.indices', 'i32', nnz),
        perm: leaf('featT.perm', 'i32', nnz),
      };
      csr.set(v, c);
      values.set(v, { val: leaf('feat.values', 'f32', nnz), valT: leaf('featT.values', 'f32', nnz), of: v });
      continue;
    }
    if (v.op === 'dropout' && sparse.has(v.inputs[0]!)) {
      const x = v.inputs[0]!;
      const val = b.op('dropout', [values.get(x)!.val, ...v.inputs.slice(1).map((i) => map.get(i)!)], v.attrs, meta);
      values.set(v, { val, valT: b.op('gather', [val, csr.get(x)!.perm], {}, meta), of: x });
      continue;
    }
    const sv = v.op === 'matmul' ? values.get(v.inputs[0]!) : undefined;
    if (sv) {
      const c = csr.get(sv.of)!;
      const [n, f] = sv.of.type.shape as [number, number];
      const inputs = [c.ptr, c.idx, sv.val, c.ptrT, c.idxT, sv.valT, map.get(v.inputs[1]!)!];
      map.set(v, b.op('spmm', inputs, { rows: n, cols: f }, meta));
      continue;
    }
    map.set(
      v,
      v.op === 'input' || v.op === 'param' || v.op === 'state'
        ? b.leaf(v.op, leafName(v), v.type, v.attrs, meta)
        : b.op(
            v.op,
            v.inputs.map((x) => map.get(x)!),
            v.attrs,
            meta,
          ),
    );
  }
  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: map.get(o.value)! })),
    updates: m.updates.map((u) => ({ ...u, value: map.get(u.value)! })),
  };
}
