import type { Value } from '../graph.ts';
import type { OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { dimAdd, dimDiv, dimMul, dimSub, normAxis, sameDim, ShapeError, type Dim } from '../types.ts';
import { around, ints, like, num, shapeOf, size, stridedIndex, strides } from './util.ts';

const dims = (v: unknown): Dim[] => v as Dim[];

function product(ds: readonly Dim[]): Dim {
  return ds.reduce<Dim>((a, d) => dimMul(a, d), 1);
}

/** Copies the box [starts, starts+shape) of `src` (shape `full`) into a dense array, or the reverse when `scatter`. */
function boxCopy(
  src: ArrayLike<number>,
  full: number[],
  starts: number[],
  box: number[],
  dst: { [i: number]: number; length: number },
  scatter: boolean,
): void {
  const fs = strides(full);
  const r = full.length;
  const n = size(box);
  if (n === 0) return;
  const inner = box[r - 1] ?? 1;
  const coord = new Array<number>(Math.max(0, r - 1)).fill(0);
  for (let o = 0; o < n; o += inner) {
    let off = 0;
    for (let d = 0; d < r - 1; d++) off += (coord[d]! + starts[d]!) * fs[d]!;
    off += r ? starts[r - 1]! : 0;
    if (scatter) for (let j = 0; j < inner; j++) dst[off + j] = src[o + j]!;
    else for (let j = 0; j < inner; j++) dst[o + j] = src[off + j]!;
    for (let d = r - 2; d >= 0; d--) {
      if (++coord[d]! < box[d]!) break;
      coord[d] = 0;
    }
  }
}

export const shapeOps: OpDef[] = [
  {
    name: 'transpose',
    class: 'elementwise',
    arity: 1,
    attrs: { perm: { kind: 'ints' } },
    infer: ([x], a) => {
      const perm = ints(a, 'perm');
      if (perm.length !== x!.shape.length || [...perm].sort((p, q) => p - q).some((p, i) => p !== i))
        throw new ShapeError(`perm [${perm}] is not a permutation of rank ${x!.shape.length}`);
      return { dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) };
    },
    grad: (b, v, dy) => {
      const perm = ints(v.attrs, 'perm');
      const inv = perm.map((_, i) => perm.indexOf(i));
      return [b.op('transpose', [dy], { perm: inv })];
    },
    cost: (v) => streamingCost(v, 0),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const xs = strides(x!.shape);
      const idx = stridedIndex(
        shapeOf(v),
        ints(v.attrs, 'perm').map((p) => xs[p]!),
      );
      for (let i = 0; i < out.length; i++) out[i] = x!.data[idx[i]!]!;
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    name: 'reshape',
    class: 'elementwise',
    arity: 1,
    attrs: { shape: { kind: 'ints' } },
    infer: ([x], a) => {
      const target = dims(a['shape']);
      const holes = target.filter((d) => d === -1).length;
      if (holes > 1) throw new ShapeError('reshape allows at most one -1');
      const total = product(x!.shape);
      const known = product(target.filter((d) => d !== -1));
      const shape = target.map((d) => (d === -1 ? dimDiv(total, known) : d));
      if (typeof total === 'number' && shape.every((d) => typeof d === 'number')) {
        if (!shape.every((d) => Number.isInteger(d) && (d as number) >= 0) || size(shape as number[]) !== total)
          throw new ShapeError(`cannot reshape [${x!.shape}] (${total} elements) to [${target}]`);
      }
      return { dtype: x!.dtype, shape };
    },
    grad: (b, v, dy) => [b.op('reshape', [dy], { shape: shapeOf(v.inputs[0]!) })],
    cost: () => ({ flops: 0, bytes: 0 }),
    ref: ([x], v) => ({ data: x!.data, shape: shapeOf(v) }),
  },
  {
    name: 'slice',
    class: 'elementwise',
    arity: 1,
    attrs: { starts: { kind: 'ints' }, ends: { kind: 'ints' } },
    infer: ([x], a) => {
      const s = dims(a['starts']);
      const e = dims(a['ends']);
      if (s.length !== x!.shape.length || e.length !== x!.shape.length)
        throw new ShapeError(`slice needs one range per dimension of [${x!.shape}]`);
      const shape = x!.shape.map((d, i) => {
        const [lo, hi] = [s[i]!, e[i]!];
        if (typeof lo === 'number' && lo < 0) throw new ShapeError(`slice start ${lo} is before 0`);
        if (typeof lo === 'number' && typeof hi === 'number' && hi < lo)
          throw new ShapeError(`slice ${lo}:${hi} ends before it starts`);
        if (typeof hi === 'number' && typeof d === 'number' && hi > d)
          throw new ShapeError(`slice end ${hi} is past dimension ${i} of size ${d}`);
        return dimSub(hi, lo);
      });
      return { dtype: x!.dtype, shape };
    },
    grad: (b, v, dy) => {
      const full = shapeOf(v.inputs[0]!);
      const s = ints(v.attrs, 'starts');
      const e = ints(v.attrs, 'ends');
      return [b.op('pad', [dy], { before: s, after: full.map((d, i) => d - e[i]!) })];
    },
    cost: (v) => streamingCost(v, 0),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      boxCopy(x!.data, x!.shape, ints(v.attrs, 'starts'), shapeOf(v), out, false);
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    name: 'pad',
    class: 'elementwise',
    arity: 1,
    attrs: { before: { kind: 'ints' }, after: { kind: 'ints' } },
    infer: ([x], a) => {
      const lo = dims(a['before']);
      const hi = dims(a['after']);
      if (lo.length !== x!.shape.length || hi.length !== x!.shape.length)
        throw new ShapeError('pad needs one amount per dimension');
      return { dtype: x!.dtype, shape: x!.shape.map((d, i) => dimAdd(dimAdd(d, lo[i]!), hi[i]!)) };
    },
    grad: (b, v, dy) => {
      const lo = ints(v.attrs, 'before');
      const inShape = shapeOf(v.inputs[0]!);
      return [b.op('slice', [dy], { starts: lo, ends: inShape.map((d, i) => d + lo[i]!) })];
    },
    cost: (v) => streamingCost(v, 0),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      boxCopy(x!.data, shapeOf(v), ints(v.attrs, 'before'), x!.shape, out, true);
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    name: 'concat',
    class: 'elementwise',
    arity: 'variadic',
    attrs: { axis: { kind: 'int' } },
    infer: (xs, a) => {
      if (xs.length === 0) throw new ShapeError('concat needs at least one operand');
      const r = xs[0]!.shape.length;
      const ax = normAxis(num(a, 'axis'), r);
      let total: Dim = 0;
      for (const [k, x] of xs.entries()) {
        if (x.shape.length !== r || x.dtype !== xs[0]!.dtype)
          throw new ShapeError(
            `concat operand ${k} is ${x.dtype}[${x.shape}], the first is ${xs[0]!.dtype}[${xs[0]!.shape}]`,
          );
        x.shape.forEach((d, i) => {
          if (i !== ax && !sameDim(d, xs[0]!.shape[i]!))
            throw new ShapeError(`concat operand ${k} differs in dimension ${i}: ${d} vs ${xs[0]!.shape[i]}`);
        });
        total = dimAdd(total, x.shape[ax]!);
      }
      return { dtype: xs[0]!.dtype, shape: xs[0]!.shape.map((d, i) => (i === ax ? total : d)) };
    },
    grad: (b, v, dy) => {
      const full = shapeOf(v);
      const ax = normAxis(num(v.attrs, 'axis'), full.length);
      let at = 0;
      return v.inputs.map((x: Value) => {
        const w = shapeOf(x)[ax]!;
        const starts = full.map((_, i) => (i === ax ? at : 0));
        const ends = full.map((d, i) => (i === ax ? at + w : d));
        at += w;
        return b.op('slice', [dy], { starts, ends });
      });
    },
    cost: (v) => streamingCost(v, 0),
    ref: (xs, v, ctx) => {
      const out = like(ctx, v.type);
      const full = shapeOf(v);
      const ax = normAxis(num(v.attrs, 'axis'), full.length);
      const [outer, , inner] = around(full, ax);
      const rowLen = full[ax]! * inner;
      let at = 0;
      for (const x of xs) {
        const w = x.shape[ax]! * inner;
        for (let o = 0; o < outer; o++) for (let j = 0; j < w; j++) out[o * rowLen + at + j] = x.data[o * w + j]!;
        at += w;
      }
      return { data: out, shape: full };
    },
  },
];
