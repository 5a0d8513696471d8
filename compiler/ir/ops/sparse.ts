import type { OpDef } from '../op.ts';
import { bytesOf } from '../op.ts';
import { sameDim, ShapeError, type TensorType } from '../types.ts';
import { bool, like, num, shapeOf } from './util.ts';

/**
 * `spmm(indptr, indices, values, indptrT, indicesT, valuesT, x) {rows, cols, transpose}`: A @ x, or Aᵀ @ x
 * when `transpose`, for a rows × cols matrix A given in CSR together with its transpose (so that both
 * products gather along rows: no scattered writes). A is data, not a parameter: it has no cotangent.
 */
export const sparseOps: OpDef[] = [
  {
    name: 'spmm',
    class: 'matmul',
    arity: 7,
    attrs: { rows: { kind: 'int' }, cols: { kind: 'int' }, transpose: { kind: 'bool', optional: true } },
    infer: ([ptr, idx, val, ptrT, idxT, valT, x], a) => {
      const rows = num(a, 'rows');
      const cols = num(a, 'cols');
      for (const [p, i, v, n, what] of [
        [ptr, idx, val, rows, 'A'],
        [ptrT, idxT, valT, cols, 'Aᵀ'],
      ] as const) {
        if (p!.dtype !== 'i32' || i!.dtype !== 'i32')
          throw new ShapeError(`spmm: the CSR row pointers and column ids of ${what} must be i32`);
        if (p!.shape.length !== 1 || !sameDim(p!.shape[0]!, n + 1))
          throw new ShapeError(`spmm: ${what} needs ${n + 1} row pointers, got [${p!.shape}]`);
        if (!sameDim(i!.shape[0]!, v!.shape[0]!))
          throw new ShapeError(`spmm: ${what} has ${i!.shape[0]} column ids but ${v!.shape[0]} values`);
      }
      if (!sameDim(idx!.shape[0]!, idxT!.shape[0]!))
        throw new ShapeError('spmm: A and Aᵀ differ in their number of entries');
      if (x!.shape.length !== 2) throw new ShapeError(`spmm needs a matrix operand, got rank ${x!.shape.length}`);
      const [inRows, outRows] = bool(a, 'transpose') ? [rows, cols] : [cols, rows];
      if (!sameDim(x!.shape[0]!, inRows))
        throw new ShapeError(`spmm operand has ${x!.shape[0]} rows, the graph matrix needs ${inRows}`);
      return { dtype: x!.dtype, shape: [outRows, x!.shape[1]!] };
    },
    grad: (b, v, dy) => [
      ...new Array<undefined>(6),
      b.op('spmm', [...v.inputs.slice(0, 6), dy], { ...v.attrs, transpose: !bool(v.attrs, 'transpose') }),
    ],
    cost: (v) => {
      const nnz = shapeOf(v.inputs[1]!)[0]!;
      const f = shapeOf(v)[1]!;
      const t = bool(v.attrs, 'transpose') ? 3 : 0;
      return {
        flops: 2 * nnz * f,
        bytes:
          bytesOf(v.type) +
          bytesOf(v.inputs[6]!.type) +
          [0, 1, 2].reduce((s, k) => s + bytesOf(v.inputs[t + k]!.type), 0),
        gathered: bytesOf(v.inputs[6]!.type), // a row of x per entry
      };
    },
    ref: (ins, v, ctx) => {
      const t = bool(v.attrs, 'transpose') ? 3 : 0;
      return csrProduct(ins[t]!.data, ins[t + 1]!.data, ins[t + 2]!, ins[6]!, v, ctx);
    },
  },
  {
    // the product as a kernel runs it: only the CSR it reads (`lower-sparse` makes it from spmm after autodiff)
    name: 'spmm_csr',
    class: 'matmul',
    arity: 4,
    attrs: { cols: { kind: 'int' } },
    infer: ([ptr, idx, val, x], a) => spmmCsrType(ptr!, idx!, val!, x!, num(a, 'cols'), 'spmm_csr'),
    noGrad: 'lower-sparse makes it from spmm after autodiff',
    cost: (v) => ({
      flops: 2 * shapeOf(v.inputs[1]!)[0]! * shapeOf(v)[1]!,
      bytes: v.inputs.reduce((s, x) => s + bytesOf(x.type), bytesOf(v.type)),
      gathered: bytesOf(v.inputs[3]!.type),
    }),
    ref: (ins, v, ctx) => csrProduct(ins[0]!.data, ins[1]!.data, ins[2]!, ins[3]!, v, ctx),
  },
  {
    // acc + A @ x, each element's sum continuing from acc in the order of the row's entries: a chain over A's column
    // blocks (ascending) sums every row in the order of the whole product, so blocking never changes a bit
    name: 'spmm_acc',
    class: 'matmul',
    arity: 5,
    attrs: { cols: { kind: 'int' } },
    infer: ([acc, ptr, idx, val, x], a) => {
      const t = spmmCsrType(ptr!, idx!, val!, x!, num(a, 'cols'), 'spmm_acc');
      if (acc!.dtype !== t.dtype || acc!.shape.length !== 2 || !acc!.shape.every((d, i) => sameDim(d, t.shape[i]!)))
        throw new ShapeError(`spmm_acc: the accumulator is [${acc!.shape}], the product [${t.shape}]`);
      return t;
    },
    noGrad: 'a block of a product, made after autodiff',
    cost: (v) => ({
      flops: 2 * shapeOf(v.inputs[2]!)[0]! * shapeOf(v)[1]!,
      bytes: v.inputs.reduce((s, x) => s + bytesOf(x.type), bytesOf(v.type)),
      gathered: bytesOf(v.inputs[4]!.type),
    }),
    ref: (ins, v, ctx) => csrProduct(ins[1]!.data, ins[2]!.data, ins[3]!, ins[4]!, v, ctx, ins[0]!.data),
  },
];

/** Heads of a product's values: one per entry ([nnz]), or one per entry and head ([nnz, H]). */
export const headsOf = (val: TensorType): number => (val.shape.length === 2 ? (val.shape[1] as number) : 1);

/**
 * The result type of A @ x for A in CSR (rows from the row pointers, `cols` columns) with values [nnz], or [nnz, H]
 * (head h weighting its own consecutive x.shape[1] / H features).
 */
export function spmmCsrType(
  ptr: TensorType,
  idx: TensorType,
  val: TensorType,
  x: TensorType,
  cols: number,
  op: string,
) {
  if (ptr.dtype !== 'i32' || idx.dtype !== 'i32')
    throw new ShapeError(`${op}: the CSR row pointers and column ids must be i32`);
  if (ptr.shape.length !== 1 || idx.shape.length !== 1 || !sameDim(idx.shape[0]!, val.shape[0]!))
    throw new ShapeError(`${op}: ${idx.shape[0]} column ids but ${val.shape[0]} values`);
  if (val.shape.length > 2) throw new ShapeError(`${op}: values must be [entries] or [entries, heads]`);
  if (x.shape.length !== 2 || !sameDim(x.shape[0]!, cols))
    throw new ShapeError(`${op} operand must be a matrix of ${cols} rows, got [${x.shape}]`);
  const hs = headsOf(val);
  if (typeof x.shape[1] === 'number' && x.shape[1] % hs)
    throw new ShapeError(`${op}: ${x.shape[1]} features do not split into ${hs} heads`);
  return { dtype: x.dtype, shape: [(ptr.shape[0] as number) - 1, x.shape[1]!] };
}

/**
 * A @ x for A in CSR (plus `init`, from which each sum continues), each row's entries summed in order; with [nnz, H]
 * values, head h's weights its features.
 */
export function csrProduct(
  ptr: ArrayLike<number>,
  idx: ArrayLike<number>,
  val: { data: ArrayLike<number>; shape: number[] },
  x: { data: ArrayLike<number>; shape: number[] },
  v: Parameters<OpDef['ref']>[1],
  ctx: Parameters<OpDef['ref']>[2],
  init?: ArrayLike<number>,
) {
  const out = like(ctx, v.type);
  if (init) out.set(init);
  const n = shapeOf(v)[0]!;
  const f = x.shape[1]!;
  const hs = val.shape[1] ?? 1;
  const per = f / hs;
  for (let r = 0; r < n; r++)
    for (let e = ptr[r]!; e < ptr[r + 1]!; e++) {
      const c = idx[e]! * f;
      for (let h = 0; h < hs; h++) {
        const w = val.data[e * hs + h]!;
        for (let j = h * per; j < (h + 1) * per; j++) out[r * f + j] += w * x.data[c + j]!;
      }
    }
  return { data: out, shape: shapeOf(v) };
}
