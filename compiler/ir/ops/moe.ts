import type { Attrs } from '../graph.ts';
import type { OpDef } from '../op.ts';
import { bytesOf, elems } from '../op.ts';
import { checkIndex } from './gather.ts';
import { dimMul, sameDim, ShapeError, type Dim, type TensorType } from '../types.ts';
import { like, num, requireFloat, requireRank, shapeOf } from './util.ts';

/**
 * The ops of a mixture-of-experts layer that the rest of the IR lacks: choosing each token's experts (`topk`), reading
 * their gate values (`take`, with `take_grad` its adjoint), and routing with a capacity (`moe_slots`, `moe_tokens`).
 * Moving rows to and from the experts is `gather` over these indices; the experts are batched `matmul`s.
 *
 * Routing order (GShard, Switch Transformer): every token's first choice is placed before any token's second, and
 * within a choice rank tokens go in order. An expert's assignments take its slots e·C, e·C + 1, … in that order; those
 * past its capacity C are dropped (their slot is E·C, a row of zeros).
 */

/** The k largest of each row's n values, as indices: by value, largest first; equal values by lower index. */
const topk: OpDef = {
  name: 'topk',
  class: 'elementwise',
  arity: 1,
  attrs: { k: { kind: 'int' } },
  infer: ([x], at) => {
    requireRank(x!, 1, 'topk');
    requireFloat(x!, 'topk');
    const k = sizeAttr(at, 'k');
    const n = x!.shape.at(-1)!;
    if (typeof k === 'number' && (!Number.isInteger(k) || k < 1 || (typeof n === 'number' && k > n)))
      throw new ShapeError(`topk: k must be a whole number from 1 to the row's ${n} values, got ${k}`);
    return { dtype: 'i32', shape: [...x!.shape.slice(0, -1), k] };
  },
  noGrad: 'indices: the values chosen carry the gradient (take)',
  cost: (v) => {
    const n = shapeOf(v.inputs[0]!).at(-1)!;
    return { flops: elems(v.type) * n, bytes: bytesOf(v.inputs[0]!.type) + bytesOf(v.type) };
  },
  // the r-th choice is the best value after the (r-1)-th in the order (value descending, index ascending); the kernel
  // does the same, so a NaN is never chosen after a number, as there
  ref: ([x], v, ctx) => {
    const out = like(ctx, v.type);
    const n = x!.shape.at(-1)!;
    const k = num(v.attrs, 'k');
    for (let row = 0; row < out.length / k; row++) {
      let [pv, pi] = [0, -1];
      for (let r = 0; r < k; r++) {
        let [bv, bi] = [0, -1];
        for (let j = 0; j < n; j++) {
          const xj = x!.data[row * n + j]!;
          const after = pi < 0 || xj < pv || (xj === pv && j > pi);
          if (after && (bi < 0 || xj > bv)) [bv, bi] = [xj, j];
        }
        out[row * k + r] = bi;
        [pv, pi] = [bv, bi];
      }
    }
    return { data: out, shape: shapeOf(v) };
  },
};

/** Rows of `x` and `idx` agree but for the last axis. */
function sameRows(x: TensorType, idx: TensorType, op: string): void {
  if (idx.dtype !== 'i32') throw new ShapeError(`${op} indices must be i32, got ${idx.dtype}`);
  const [a, b] = [x.shape.slice(0, -1), idx.shape.slice(0, -1)];
  if (a.length !== b.length || !a.every((d, i) => sameDim(d, b[i]!)))
    throw new ShapeError(`${op}: the rows of [${x.shape}] and of the indices [${idx.shape}] differ`);
}

/** `take(x, idx)`: out[..., r] = x[..., idx[..., r]], per row (the gate values of a token's chosen experts). */
const take: OpDef = {
  name: 'take',
  class: 'elementwise',
  arity: 2,
  attrs: {},
  infer: ([x, idx]) => {
    requireRank(x!, 1, 'take');
    sameRows(x!, idx!, 'take');
    return { dtype: x!.dtype, shape: [...idx!.shape] };
  },
  grad: (b, v, dy) => {
    const n = shapeOf(v.inputs[0]!).at(-1)!;
    return [b.op('take_grad', [dy, v.inputs[1]!], { n }), undefined];
  },
  cost: (v) => ({ flops: 0, bytes: 2 * bytesOf(v.type) + bytesOf(v.inputs[1]!.type) }),
  ref: ([x, idx], v, ctx) => {
    const out = like(ctx, v.type);
    const n = x!.shape.at(-1)!;
    const k = idx!.shape.at(-1)!;
    for (let i = 0; i < out.length; i++) {
      const j = idx!.data[i]!;
      checkIndex(j, n, 'take', 'values in a row');
      out[i] = x!.data[Math.floor(i / k) * n + j]!;
    }
    return { data: out, shape: shapeOf(v) };
  },
};

/** `take_grad(dy, idx) {n}`: take's adjoint, rows of n zeros with dy[..., r] added at idx[..., r]. */
const takeGrad: OpDef = {
  name: 'take_grad',
  class: 'elementwise',
  arity: 2,
  attrs: { n: { kind: 'int' } },
  infer: ([dy, idx], at) => {
    requireRank(dy!, 1, 'take_grad');
    sameRows(dy!, idx!, 'take_grad');
    if (!sameDim(dy!.shape.at(-1)!, idx!.shape.at(-1)!)) throw new ShapeError('take_grad: dy and indices differ');
    return { dtype: dy!.dtype, shape: [...dy!.shape.slice(0, -1), num(at, 'n')] };
  },
  grad: (b, v, ddy) => [b.op('take', [ddy, v.inputs[1]!]), undefined],
  cost: (v) => ({
    flops: elems(v.inputs[0]!.type),
    bytes: bytesOf(v.type) + bytesOf(v.inputs[0]!.type) + bytesOf(v.inputs[1]!.type),
  }),
  ref: ([dy, idx], v, ctx) => {
    const out = like(ctx, v.type);
    const n = num(v.attrs, 'n');
    const k = idx!.shape.at(-1)!;
    for (let i = 0; i < idx!.data.length; i++) {
      const j = idx!.data[i]!;
      checkIndex(j, n, 'take_grad', 'values in a row');
      out[Math.floor(i / k) * n + j] += dy!.data[i]!;
    }
    return { data: out, shape: shapeOf(v) };
  },
};

/** A size attribute: a number, or a size name while a model is checked without a plan. */
const sizeAttr = (at: Attrs, k: string): Dim => (typeof at[k] === 'string' ? (at[k] as string) : num(at, k));

/** The experts E and capacity C of a routing op, checked against its [T, k] choices. */
function routing(idx: TensorType, at: Attrs, op: string): { e: Dim; c: Dim } {
  if (idx.dtype !== 'i32' || idx.shape.length !== 2) throw new ShapeError(`${op}: needs i32 choices [tokens, k]`);
  const [e, c] = [sizeAttr(at, 'experts'), sizeAttr(at, 'capacity')];
  for (const [name, x] of [
    ['experts', e],
    ['capacity', c],
  ] as const)
    if (typeof x === 'number' && (!Number.isInteger(x) || x < 1))
      throw new ShapeError(`${op}: ${name} must be a whole number ≥ 1, got ${x}`);
  return { e, c };
}

/** Each of the [T, k] choices' slot (E·C when dropped), placed in routing order. */
function route(idx: Int32Array | Float32Array | Float64Array, t: number, k: number, e: number, c: number) {
  const filled = new Int32Array(e);
  const slots = new Int32Array(t * k);
  for (let r = 0; r < k; r++)
    for (let i = 0; i < t; i++) {
      const x = idx[i * k + r]!;
      checkIndex(x, e, 'moe routing', 'experts');
      slots[i * k + r] = filled[x]! < c ? x * c + filled[x]! : e * c;
      filled[x]++;
    }
  return slots;
}

/** `moe_slots(idx) {experts, capacity}`: each assignment's row among the experts' E·C slots, E·C when dropped. */
const moeSlots: OpDef = {
  name: 'moe_slots',
  class: 'elementwise',
  arity: 1,
  attrs: { experts: { kind: 'int' }, capacity: { kind: 'int' } },
  infer: ([idx], at) => {
    routing(idx!, at, 'moe_slots');
    return { dtype: 'i32', shape: [...idx!.shape] };
  },
  noGrad: 'indices',
  cost: (v) => ({ flops: elems(v.type), bytes: 2 * bytesOf(v.type) }),
  ref: ([idx], v, ctx) => {
    const [t, k] = idx!.shape as [number, number];
    const out = like(ctx, v.type);
    out.set(route(idx!.data, t, k, num(v.attrs, 'experts'), num(v.attrs, 'capacity')));
    return { data: out, shape: shapeOf(v) };
  },
};

/** `moe_tokens(idx) {experts, capacity}`: the token in each of the E·C slots, T where a slot is empty. */
const moeTokens: OpDef = {
  name: 'moe_tokens',
  class: 'elementwise',
  arity: 1,
  attrs: { experts: { kind: 'int' }, capacity: { kind: 'int' } },
  infer: ([idx], at) => {
    const { e, c } = routing(idx!, at, 'moe_tokens');
    return { dtype: 'i32', shape: [dimMul(e, c)] };
  },
  noGrad: 'indices',
  cost: (v) => ({ flops: elems(v.inputs[0]!.type), bytes: bytesOf(v.type) + bytesOf(v.inputs[0]!.type) }),
  ref: ([idx], v, ctx) => {
    const [t, k] = idx!.shape as [number, number];
    const [e, c] = [num(v.attrs, 'experts'), num(v.attrs, 'capacity')];
    const out = like(ctx, v.type).fill(t);
    const slots = route(idx!.data, t, k, e, c);
    for (let i = 0; i < slots.length; i++) if (slots[i]! < e * c) out[slots[i]!] = Math.floor(i / k);
    return { data: out, shape: shapeOf(v) };
  },
};

export const moeOps: OpDef[] = [topk, take, takeGrad, moeSlots, moeTokens];
