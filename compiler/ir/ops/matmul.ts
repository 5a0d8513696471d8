import type { OpDef } from '../op.ts';
import { bytesOf, overHeads } from '../op.ts';
import { broadcastShapes, sameDim, ShapeError } from '../types.ts';
import { unbroadcast } from './elementwise.ts';
import { quantizeGrad } from './fp8.ts';
import { bool, broadcastIndex, like, requireRank, shapeOf, size } from './util.ts';

/**
 * `matmul {ta, tb, fp8}`: op(a) @ op(b) over the last two dims, where op transposes when its flag is set.
 * Leading (batch) dims broadcast. `fp8`: an FP8 GEMM (Transformer Engine's): its operands come quantised to E4M3
 * (fp8_e4m3 ops, fp8.ts) and it accumulates in higher precision, as here; its backward rounds the output's gradient to
 * E5M2 before the two FP8 GEMMs that read it. The cost model runs it at the GPU's fp8 peak.
 */
export const matmulOps: OpDef[] = [
  {
    name: 'matmul',
    class: overHeads('matmul'),
    arity: 2,
    attrs: {
      ta: { kind: 'bool', optional: true },
      tb: { kind: 'bool', optional: true },
      fp8: { kind: 'bool', optional: true },
    },
    infer: ([a, b], at) => {
      requireRank(a!, 2, 'matmul (left operand)');
      requireRank(b!, 2, 'matmul (right operand)');
      if (a!.dtype !== b!.dtype) throw new ShapeError(`matmul dtypes differ: ${a!.dtype} vs ${b!.dtype}`);
      const [ar, ac] = a!.shape.slice(-2);
      const [br, bc] = b!.shape.slice(-2);
      const [m, k1] = bool(at, 'ta') ? [ac!, ar!] : [ar!, ac!];
      const [k2, n] = bool(at, 'tb') ? [bc!, br!] : [br!, bc!];
      if (!sameDim(k1, k2)) throw new ShapeError(`inner dimensions differ: ${k1} vs ${k2}`);
      const batch = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
      return { dtype: a!.dtype, shape: [...batch, m, n] };
    },
    grad: (bl, v, dy0) => {
      const [a, b] = v.inputs as [typeof v, typeof v];
      const ta = bool(v.attrs, 'ta');
      const tb = bool(v.attrs, 'tb');
      const fp8 = bool(v.attrs, 'fp8');
      const dy = fp8 ? quantizeGrad(bl, dy0) : dy0;
      const mm = (x: typeof v, y: typeof v, fa: boolean, fb: boolean) =>
        bl.op('matmul', [x, y], { ...(fa && { ta: true }), ...(fb && { tb: true }), ...(fp8 && { fp8: true }) });
      let da: typeof v;
      let db: typeof v;
      if (!ta && !tb) [da, db] = [mm(dy, b, false, true), mm(a, dy, true, false)];
      else if (!ta && tb) [da, db] = [mm(dy, b, false, false), mm(dy, a, true, false)];
      else if (ta && !tb) [da, db] = [mm(b, dy, false, true), mm(a, dy, false, false)];
      else [da, db] = [mm(b, dy, true, true), mm(dy, a, true, true)];
      return [unbroadcast(bl, da, a.type), unbroadcast(bl, db, b.type)];
    },
    cost: (v) => {
      const [a] = v.inputs;
      const k = (bool(v.attrs, 'ta') ? shapeOf(a!).at(-2) : shapeOf(a!).at(-1))!;
      return {
        flops: 2 * size(shapeOf(v)) * k,
        bytes: bytesOf(v.type) + bytesOf(v.inputs[0]!.type) + bytesOf(v.inputs[1]!.type),
      };
    },
    ref: ([a, b], v, ctx) => {
      const out = shapeOf(v);
      const c = like(ctx, v.type);
      const ta = bool(v.attrs, 'ta');
      const tb = bool(v.attrs, 'tb');
      const [m, n] = out.slice(-2) as [number, number];
      const k = (ta ? a!.shape.at(-2) : a!.shape.at(-1))!;
      const batchOut = out.slice(0, -2);
      const nb = size(batchOut);
      const ia = broadcastIndex(batchOut, a!.shape.slice(0, -2));
      const ib = broadcastIndex(batchOut, b!.shape.slice(0, -2));
      const A = a!.data;
      const B = b!.data;
      // b in row-major [k, n] so the inner loop is contiguous
      let bT: Float32Array | Float64Array | null = null;
      for (let bi = 0; bi < nb; bi++) {
        const aOff = (ia ? ia[bi]! : bi) * m * k;
        const bIdx = ib ? ib[bi]! : bi;
        let bOff = bIdx * k * n;
        let Bk: ArrayLike<number> = B;
        if (tb) {
          bT ??= ctx.floats(k * n);
          for (let r = 0; r < n; r++) for (let q = 0; q < k; q++) bT[q * n + r] = B[bOff + r * k + q]!;
          Bk = bT;
          bOff = 0;
        }
        const cOff = bi * m * n;
        // loop order keeps reads of a contiguous, and skips its zeros (sparse features, masks)
        if (ta) {
          for (let q = 0; q < k; q++) {
            const aq = aOff + q * m;
            const bq = bOff + q * n;
            for (let i = 0; i < m; i++) {
              const av = A[aq + i]!;
              if (av === 0) continue;
              const ci = cOff + i * n;
              for (let j = 0; j < n; j++) c[ci + j] += av * Bk[bq + j]!;
            }
          }
        } else {
          for (let i = 0; i < m; i++) {
            const ci = cOff + i * n;
            const ai = aOff + i * k;
            for (let q = 0; q < k; q++) {
              const av = A[ai + q]!;
              if (av === 0) continue;
              const bq = bOff + q * n;
              for (let j = 0; j < n; j++) c[ci + j] += av * Bk[bq + j]!;
            }
          }
        }
      }
      return { data: c, shape: out };
    },
  },
];
