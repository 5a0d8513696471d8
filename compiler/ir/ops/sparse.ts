import type { OpDef } from '../op.ts';
import { bytesOf } from '../op.ts';
import { sameDim, ShapeError } from '../types.ts';
import { bool, like, num, shapeOf } from './util.ts';

/**
 * `spmm(indptr, indices, values, x) {rows, cols, transpose}`: A @ x (or Aᵀ @ x) for a CSR matrix A of
 * rows × cols, the GCN aggregation. A is data, not a parameter: it has no cotangent.
 */
export const sparseOps: OpDef[] = [
  {
    name: 'spmm',
    arity: 4,
    attrs: { rows: { kind: 'int' }, cols: { kind: 'int' }, transpose: { kind: 'bool', optional: true } },
    infer: ([ptr, idx, val, x], a) => {
      const rows = num(a, 'rows');
      const cols = num(a, 'cols');
      if (ptr!.dtype !== 'i32' || idx!.dtype !== 'i32') throw new ShapeError('spmm indptr and indices must be i32');
      if (ptr!.shape.length !== 1 || !sameDim(ptr!.shape[0]!, rows + 1)) throw new ShapeError(`spmm indptr must be [${rows + 1}]`);
      if (!sameDim(idx!.shape[0]!, val!.shape[0]!)) throw new ShapeError('spmm indices and values differ in length');
      if (x!.shape.length !== 2) throw new ShapeError(`spmm needs a matrix operand, got rank ${x!.shape.length}`);
      const t = bool(a, 'transpose');
      const [inRows, outRows] = t ? [rows, cols] : [cols, rows];
      if (!sameDim(x!.shape[0]!, inRows)) throw new ShapeError(`spmm operand has ${x!.shape[0]} rows, the graph matrix needs ${inRows}`);
      return { dtype: x!.dtype, shape: [outRows, x!.shape[1]!] };
    },
    grad: (b, v, dy) => {
      const [ptr, idx, val] = v.inputs;
      return [undefined, undefined, undefined, b.op('spmm', [ptr!, idx!, val!, dy], { ...v.attrs, transpose: !bool(v.attrs, 'transpose') })];
    },
    cost: (v) => {
      const nnz = shapeOf(v.inputs[1]!)[0]!;
      const f = shapeOf(v)[1]!;
      return { flops: 2 * nnz * f, bytes: bytesOf(v.type) + v.inputs.reduce((s, x) => s + bytesOf(x.type), 0) };
    },
    ref: ([ptr, idx, val, x], v, ctx) => {
      const out = like(ctx, v.type);
      const rows = num(v.attrs, 'rows');
      const f = x!.shape[1]!;
      const t = bool(v.attrs, 'transpose');
      for (let r = 0; r < rows; r++) {
        for (let e = ptr!.data[r]!; e < ptr!.data[r + 1]!; e++) {
          const c = idx!.data[e]!;
          const w = val!.data[e]!;
          const [dst, src] = t ? [c * f, r * f] : [r * f, c * f];
          for (let j = 0; j < f; j++) out[dst + j] += w * x!.data[src + j]!;
        }
      }
      return { data: out, shape: shapeOf(v) };
    },
  },
];
