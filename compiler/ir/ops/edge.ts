import type { OpDef } from '../op.ts';
import { bytesOf, streamingCost } from '../op.ts';
import { sameDim, ShapeError, type TensorType } from '../types.ts';
import { like, num, sameShape, shapeOf } from './util.ts';
import { csrProduct, spmmCsrType } from './sparse.ts';

/**
 * Ops over a graph's edges, one value per edge and head ([nnz, H]), the entries in the order of A's CSR (what graph
 * attention needs, Veličković et al. 2018): a softmax over each node's incoming edges, the product of A with per-edge
 * weights, and its adjoint in the weights (SDDMM: for each edge, the dot product of its two nodes' rows).
 */

const requireIndex = (t: TensorType, what: string) => {
  if (t.dtype !== 'i32' || t.shape.length !== 1)
    throw new ShapeError(`${what} must be an i32 vector, got [${t.shape}]`);
};

function edgeValues(t: TensorType, what: string): void {
  if (t.shape.length !== 2) throw new ShapeError(`${what} must be [edges, heads], got [${t.shape}]`);
  if (t.dtype === 'i32') throw new ShapeError(`${what} must be floating point`);
}

/** For each row r of `ptr`'s CSR and head h: f(its first entry, its end, h). */
function perRow(ptr: ArrayLike<number>, heads: number, f: (from: number, to: number, h: number) => void): void {
  for (let r = 0; r + 1 < ptr.length; r++) for (let h = 0; h < heads; h++) f(ptr[r]!, ptr[r + 1]!, h);
}

export const edgeOps: OpDef[] = [
  {
    // y[e, h] = exp(x[e, h] − max) / Σ exp(x[·, h] − max), over the entries e of each row of the CSR
    name: 'edge_softmax',
    class: 'elementwise',
    arity: 2,
    attrs: {},
    infer: ([ptr, x]) => {
      requireIndex(ptr!, 'edge_softmax row pointers');
      edgeValues(x!, 'edge_softmax scores');
      return { ...x! };
    },
    grad: (b, v, dy) => [undefined, b.op('edge_softmax_grad', [v.inputs[0]!, v, dy])],
    cost: (v) => streamingCost(v, 5),
    ref: ([ptr, x], v, ctx) => {
      const out = like(ctx, v.type);
      const hs = shapeOf(v)[1]!;
      const d = x!.data;
      perRow(ptr!.data, hs, (from, to, h) => {
        let m = -Infinity;
        for (let e = from; e < to; e++) m = Math.max(m, d[e * hs + h]!);
        let s = 0;
        for (let e = from; e < to; e++) s += Math.exp(d[e * hs + h]! - m);
        for (let e = from; e < to; e++) out[e * hs + h] = Math.exp(d[e * hs + h]! - m) / s;
      });
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    // dx[e, h] = y[e, h] · (dy[e, h] − Σ y·dy over the row's entries)
    name: 'edge_softmax_grad',
    class: 'elementwise',
    arity: 3,
    attrs: {},
    infer: ([ptr, y, dy]) => {
      requireIndex(ptr!, 'edge_softmax_grad row pointers');
      edgeValues(y!, 'edge_softmax_grad');
      if (!sameShape(y!.shape, dy!.shape)) throw new ShapeError('edge_softmax_grad: operand shapes differ');
      return { ...dy! };
    },
    noGrad: 'the backward of edge_softmax (no second order)',
    cost: (v) => streamingCost(v, 4),
    ref: ([ptr, y, dy], v, ctx) => {
      const out = like(ctx, v.type);
      const hs = shapeOf(v)[1]!;
      perRow(ptr!.data, hs, (from, to, h) => {
        let s = 0;
        for (let e = from; e < to; e++) s += y!.data[e * hs + h]! * dy!.data[e * hs + h]!;
        for (let e = from; e < to; e++) out[e * hs + h] = y!.data[e * hs + h]! * (dy!.data[e * hs + h]! - s);
      });
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    // out[e, h] = Σ_j a[rows[e], h·F + j] · b[cols[e], h·F + j] (F = features per head)
    name: 'sddmm',
    class: 'matmul',
    arity: 4,
    attrs: { heads: { kind: 'int' } },
    infer: ([rows, cols, a, bm], attrs) => {
      requireIndex(rows!, 'sddmm rows');
      requireIndex(cols!, 'sddmm columns');
      const hs = num(attrs, 'heads');
      if (!sameDim(rows!.shape[0]!, cols!.shape[0]!)) throw new ShapeError('sddmm: rows and columns differ in length');
      if (a!.shape.length !== 2 || bm!.shape.length !== 2 || !sameDim(a!.shape[1]!, bm!.shape[1]!))
        throw new ShapeError(`sddmm needs two matrices of equal width, got [${a!.shape}] and [${bm!.shape}]`);
      if (typeof a!.shape[1] === 'number' && a!.shape[1] % hs)
        throw new ShapeError(`sddmm: ${a!.shape[1]} features do not split into ${hs} heads`);
      return { dtype: a!.dtype, shape: [rows!.shape[0]!, hs] };
    },
    noGrad: "the adjoint of spmm_edge's weights (no second order)",
    cost: (v) => ({
      flops: 2 * shapeOf(v)[0]! * shapeOf(v.inputs[2]!)[1]!,
      bytes: bytesOf(v.type) + v.inputs.reduce((s, x) => s + bytesOf(x.type), 0),
      gathered: bytesOf(v.inputs[2]!.type) + bytesOf(v.inputs[3]!.type), // both nodes' rows, per edge
    }),
    ref: ([rows, cols, a, bm], v, ctx) => {
      const out = like(ctx, v.type);
      const [nnz, hs] = shapeOf(v) as [number, number];
      const w = a!.shape[1]!;
      const f = w / hs;
      for (let e = 0; e < nnz; e++)
        for (let h = 0; h < hs; h++) {
          let s = 0;
          const ra = rows!.data[e]! * w + h * f;
          const rb = cols!.data[e]! * w + h * f;
          for (let j = 0; j < f; j++) s += a!.data[ra + j]! * bm!.data[rb + j]!;
          out[e * hs + h] = s;
        }
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    // A_w @ x for A's sparsity with per-edge, per-head weights w [nnz, H]: head h of row r is Σ_e w[e, h]·x[col(e), h's
    // features]. Carries the entries' rows and the transpose's CSR with its permutation for the gradients; reads only
    // the first four (`lower-sparse` makes an spmm_csr of them).
    name: 'spmm_edge',
    class: 'matmul',
    arity: 8,
    attrs: { cols: { kind: 'int' } },
    infer: ([ptr, idx, w, x, rows, ptrT, idxT, permT], attrs) => {
      edgeValues(w!, 'spmm_edge weights');
      for (const [t, what] of [
        [rows!, 'rows'],
        [ptrT!, 'transpose row pointers'],
        [idxT!, 'transpose column ids'],
        [permT!, 'transpose permutation'],
      ] as const)
        requireIndex(t, `spmm_edge ${what}`);
      if (!sameDim(rows!.shape[0]!, w!.shape[0]!) || !sameDim(permT!.shape[0]!, w!.shape[0]!))
        throw new ShapeError('spmm_edge: the rows, the permutation and the weights differ in their number of edges');
      if (!sameDim(ptrT!.shape[0]!, num(attrs, 'cols') + 1))
        throw new ShapeError(`spmm_edge: the transpose needs ${num(attrs, 'cols') + 1} row pointers`);
      return spmmCsrType(ptr!, idx!, w!, x!, num(attrs, 'cols'), 'spmm_edge');
    },
    grad: (b, v, dy) => {
      const [ptr, idx, w, x, rows, ptrT, idxT, permT] = v.inputs;
      const hs = shapeOf(w!)[1]!;
      return [
        undefined,
        undefined,
        b.op('sddmm', [rows!, idx!, dy, x!], { heads: hs }),
        b.op('spmm_csr', [ptrT!, idxT!, b.op('gather', [w!, permT!]), dy], { cols: shapeOf(ptr!)[0]! - 1 }),
        ...new Array<undefined>(4),
      ];
    },
    cost: (v) => ({
      flops: 2 * shapeOf(v.inputs[1]!)[0]! * shapeOf(v)[1]!,
      bytes: v.inputs.slice(0, 4).reduce((s, x) => s + bytesOf(x.type), bytesOf(v.type)),
      gathered: bytesOf(v.inputs[3]!.type),
    }),
    ref: (ins, v, ctx) => csrProduct(ins[0]!.data, ins[1]!.data, ins[2]!, ins[3]!, v, ctx),
  },
];
