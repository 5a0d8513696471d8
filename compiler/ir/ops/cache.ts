import type { OpDef } from '../op.ts';
import { bytesOf } from '../op.ts';
import { normAxis, sameDim, ShapeError } from '../types.ts';
import { around, like, num, shapeOf } from './util.ts';

/**
 * Serving with a KV cache: `cache_write {axis, at}(cache, x)` is the cache with x written at
 * positions at … at + n along `axis` (in place on a device: it moves x's bytes only);
 * `cache_view {axis, length}(cache)` is the first `length` positions (attention kernels read them
 * where they lie, so it moves nothing; the CPU reference copies); `positions {offset}(x)` is
 * i32[n] = offset, offset + 1, … for the n tokens along x's last axis (position ids after `offset`
 * cached tokens).
 */
export const cacheOps: OpDef[] = [
  {
    name: 'cache_write',
    class: 'elementwise',
    arity: 2,
    attrs: { axis: { kind: 'int' }, at: { kind: 'int' } },
    infer: ([c, x], a) => {
      const ax = normAxis(num(a, 'axis'), c!.shape.length);
      if (x!.shape.length !== c!.shape.length || x!.dtype !== c!.dtype)
        throw new ShapeError(`cache_write: ${x!.dtype}[${x!.shape}] into a cache of ${c!.dtype}[${c!.shape}]`);
      x!.shape.forEach((d, i) => {
        if (i !== ax && !sameDim(d, c!.shape[i]!))
          throw new ShapeError(`cache_write: dimension ${i} differs: ${d} vs ${c!.shape[i]}`);
      });
      const end = num(a, 'at') + (x!.shape[ax] as number);
      if (typeof c!.shape[ax] === 'number' && end > (c!.shape[ax] as number))
        throw new ShapeError(`cache_write: positions up to ${end} in a cache of ${c!.shape[ax]}`);
      return { ...c! };
    },
    noGrad: 'serving only',
    cost: (v) => ({ flops: 0, bytes: 2 * bytesOf(v.inputs[1]!.type) }),
    ref: ([c, x], v, ctx) => {
      const out = like(ctx, v.type);
      out.set(c!.data);
      const ax = normAxis(num(v.attrs, 'axis'), c!.shape.length);
      const [outer, cap, inner] = around(c!.shape, ax);
      const n = x!.shape[ax]!;
      const at = num(v.attrs, 'at');
      for (let o = 0; o < outer; o++)
        for (let p = 0; p < n; p++)
          for (let r = 0; r < inner; r++) out[(o * cap + at + p) * inner + r] = x!.data[(o * n + p) * inner + r]!;
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    name: 'cache_view',
    class: 'elementwise',
    arity: 1,
    attrs: { axis: { kind: 'int' }, length: { kind: 'int' } },
    infer: ([c], a) => {
      const ax = normAxis(num(a, 'axis'), c!.shape.length);
      const length = num(a, 'length');
      if (typeof c!.shape[ax] === 'number' && length > (c!.shape[ax] as number))
        throw new ShapeError(`cache_view: ${length} positions of a cache of ${c!.shape[ax]}`);
      return { dtype: c!.dtype, shape: c!.shape.map((d, i) => (i === ax ? length : d)) };
    },
    noGrad: 'serving only',
    cost: () => ({ flops: 0, bytes: 0 }),
    ref: ([c], v, ctx) => {
      const out = like(ctx, v.type);
      const ax = normAxis(num(v.attrs, 'axis'), c!.shape.length);
      const [outer, cap, inner] = around(c!.shape, ax);
      const n = num(v.attrs, 'length') * inner;
      for (let o = 0; o < outer; o++) out.set(c!.data.subarray(o * cap * inner, o * cap * inner + n), o * n);
      return { data: out, shape: shapeOf(v) };
    },
  },
  {
    name: 'positions',
    class: 'elementwise',
    arity: 1,
    attrs: { offset: { kind: 'int' } },
    infer: ([x]) => {
      if (x!.shape.length < 1) throw new ShapeError('positions: needs a tensor with a sequence axis last');
      return { dtype: 'i32', shape: [x!.shape.at(-1)!] };
    },
    noGrad: 'integer positions',
    cost: (v) => ({ flops: 0, bytes: bytesOf(v.type) }),
    ref: (_x, v, ctx) => {
      const out = like(ctx, v.type);
      const offset = num(v.attrs, 'offset');
      for (let i = 0; i < out.length; i++) out[i] = offset + i;
      return { data: out, shape: shapeOf(v) };
    },
  },
];
