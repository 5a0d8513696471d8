import type { Attrs } from '../graph.ts';
import type { FloatArray, NDArray, OpDef, RefContext } from '../op.ts';
import { ShapeError, type Dim, type TensorType } from '../types.ts';

export const shapeOf = (v: { type: TensorType }): number[] => v.type.shape as number[];
export const size = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** For each flat index over `out`, the offset Σ coordinate[d] × `inStrides[d]` (a strided walk, no divisions). */
export function stridedIndex(out: readonly number[], inStrides: readonly number[]): Int32Array {
  const n = size(out);
  const idx = new Int32Array(n);
  const r = out.length;
  const coord = new Array<number>(r).fill(0);
  let off = 0;
  for (let i = 0; i < n; i++) {
    idx[i] = off;
    for (let d = r - 1; d >= 0; d--) {
      coord[d]!++;
      off += inStrides[d]!;
      if (coord[d]! < out[d]!) break;
      off -= inStrides[d]! * coord[d]!;
      coord[d] = 0;
    }
  }
  return idx;
}

/**
 * For each flat index of `out`, the flat index into an operand of shape `inp` broadcast to it (null when no broadcast).
 */
export function broadcastIndex(out: readonly number[], inp: readonly number[]): Int32Array | null {
  if (inp.length === out.length && inp.every((d, i) => d === out[i])) return null;
  const pad = [...new Array<number>(out.length - inp.length).fill(1), ...inp];
  return stridedIndex(
    out,
    strides(pad).map((s, i) => (pad[i] === 1 ? 0 : s)),
  );
}

/** Shape rule of an op whose float operand (of at least `minRank` dims) and result share one type. */
export function floatLike(name: string, minRank = 0) {
  return ([x]: TensorType[]): TensorType => {
    requireFloat(x!, name);
    requireRank(x!, minRank, name);
    return { ...x! };
  };
}

/** Shape rule of a backward op whose two operands and result share one shape. */
export function sameShapes(name: string) {
  return ([a, b]: TensorType[]): TensorType => {
    if (!sameShape(a!.shape, b!.shape)) throw new ShapeError(`${name}: operand shapes differ`);
    return { ...b! };
  };
}

export function like(ctx: RefContext, t: TensorType): FloatArray | Int32Array {
  const n = size(t.shape as number[]);
  return t.dtype[0] === 'i' ? new Int32Array(n) : ctx.floats(n);
}

export const num = (attrs: Attrs, k: string, dflt?: number): number => {
  const v = attrs[k];
  if (typeof v === 'number') return v;
  if (dflt !== undefined) return dflt;
  throw new ShapeError(`missing attribute ${k}`);
};
export const ints = (attrs: Attrs, k: string): number[] => {
  const v = attrs[k];
  if (Array.isArray(v)) return v;
  throw new ShapeError(`missing attribute ${k}`);
};
export const bool = (attrs: Attrs, k: string): boolean => attrs[k] === true;

export function requireFloat(t: TensorType, what: string): void {
  if (t.dtype[0] !== 'f' && t.dtype !== 'bf16') throw new ShapeError(`${what} needs a float tensor, got ${t.dtype}`);
}
export function requireRank(t: TensorType, min: number, what: string): void {
  if (t.shape.length < min) throw new ShapeError(`${what} needs rank ≥ ${min}, got rank ${t.shape.length}`);
}
export const sameShape = (a: readonly Dim[], b: readonly Dim[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** Splits a shape around `axis` into (outer, n, inner) extents. */
export function around(shape: readonly number[], axis: number): [number, number, number] {
  return [size(shape.slice(0, axis)), shape[axis]!, size(shape.slice(axis + 1))];
}

/** Part `index` of x's dim `axis` seen as outer × parts × inner (outer 1: one of `parts` equal slices). */
/** `x` with `pad` zeros after the entries of `axis`. */
export function padAxis(x: NDArray, axis: number, pad: number): NDArray {
  if (!pad) return x;
  const shape = x.shape.map((d, i) => (i === axis ? d + pad : d));
  const outer = x.shape.slice(0, axis).reduce((a, d) => a * d, 1);
  const run = x.shape.slice(axis).reduce((a, d) => a * d, 1);
  const wide = shape.slice(axis).reduce((a, d) => a * d, 1);
  const data = new (x.data.constructor as new (n: number) => NDArray['data'])(outer * wide);
  for (let o = 0; o < outer; o++) data.set(x.data.subarray(o * run, (o + 1) * run), o * wide);
  return { data, shape };
}

export function sliceOf(x: NDArray, axis: number, parts: number, index: number, outer = 1): NDArray {
  const shape = x.shape.map((d, i) => (i === axis ? d / parts : d));
  const blocks = x.shape.slice(0, axis).reduce((a, d) => a * d, 1) * outer;
  const run = (x.shape[axis]! / (outer * parts)) * strides(x.shape)[axis]!;
  const data = new (x.data.constructor as new (n: number) => NDArray['data'])(blocks * run);
  for (let o = 0; o < blocks; o++) {
    const from = (o * parts + index) * run;
    data.set(x.data.subarray(from, from + run), o * run);
  }
  return { data, shape };
}

/** A collective's attributes: which of a partition's axes its group is (`tensor`, `expert`), and its ranks. */
export const GROUP_ATTRS = { group: { kind: 'string' }, ranks: { kind: 'int' } } as const;

/**
 * A collective's CPU reference where one process holds one rank (a group of one): `alone`; over more ranks only a
 * runtime holding every rank of the group computes it (its `collective`).
 */
export const oneRank =
  (name: string, alone: OpDef['ref']): OpDef['ref'] =>
  (inputs, v, ctx) => {
    if (num(v.attrs, 'ranks') > 1)
      throw new Error(`internal: ${name} over ${num(v.attrs, 'ranks')} ranks runs only where every rank is`);
    return alone(inputs, v, ctx);
  };
