import type { OpName } from '../op-names.ts';
import type { Value } from '../graph.ts';
import type { NDArray, OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { broadcastShapes, ShapeError, type TensorType } from '../types.ts';
import { broadcastIndex, floatLike, like, sameShape, sameShapes, shapeOf } from './util.ts';
import type { Builder } from '../builder.ts';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Unary float ops: the scalar function, FLOPs per element, and the gradient in terms of other ops. */
interface Unary {
  f: (x: number) => number;
  flops: number;
  grad: (b: Builder, v: Value, dy: Value) => Value;
}

export const UNARY: Record<string, Unary> = {
  neg: { f: (x) => -x, flops: 1, grad: (b, _v, dy) => b.op('neg', [dy]) },
  // biome-ignore lint/complexity/useMathMinMax: NaN and -0 give 0, as the kernels do
  relu: { f: (x) => (x > 0 ? x : 0), flops: 1, grad: (b, v, dy) => b.op('relu_grad', [v.inputs[0]!, dy]) },
  gelu: {
    f: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))),
    flops: 10,
    grad: (b, v, dy) => b.op('gelu_grad', [v.inputs[0]!, dy]),
  },
  tanh: { f: Math.tanh, flops: 4, grad: (b, v, dy) => b.op('tanh_grad', [v, dy]) },
  exp: { f: Math.exp, flops: 2, grad: (b, v, dy) => b.op('mul', [dy, v]) },
  log: { f: Math.log, flops: 2, grad: (b, v, dy) => b.op('div', [dy, v.inputs[0]!]) },
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), flops: 4, grad: (b, v, dy) => b.op('sigmoid_grad', [v, dy]) },
  sqrt: {
    f: Math.sqrt,
    flops: 2,
    grad: (b, v, dy) => b.op('div', [b.op('mul', [dy, b.scalar(0.5, dy.type.dtype)]), v]),
  },
};

/** Backward ops of the unary functions: (saved operand or result, dy) -> dx. */
export const UNARY_GRAD: Record<string, { f: (s: number, dy: number) => number; flops: number; saved: 'x' | 'y' }> = {
  relu_grad: { f: (x, dy) => (x > 0 ? dy : 0), flops: 1, saved: 'x' },
  gelu_grad: {
    f: (x, dy) => {
      const u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
      const t = Math.tanh(u);
      const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
      return dy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du);
    },
    flops: 16,
    saved: 'x',
  },
  tanh_grad: { f: (y, dy) => dy * (1 - y * y), flops: 3, saved: 'y' },
  sigmoid_grad: { f: (y, dy) => dy * y * (1 - y), flops: 3, saved: 'y' },
};

export const BINARY: Record<string, { f: (a: number, b: number) => number }> = {
  add: { f: (a, b) => a + b },
  sub: { f: (a, b) => a - b },
  mul: { f: (a, b) => a * b },
  div: { f: (a, b) => a / b },
};

function unaryDef(name: OpName, u: Unary): OpDef {
  return {
    name,
    class: 'elementwise',
    arity: 1,
    attrs: {},
    infer: floatLike(name),
    grad: (b, v, dy) => [u.grad(b, v, dy)],
    cost: (v) => streamingCost(v, u.flops),
    ref: ([x], v, ctx) => {
      const out = like(ctx, v.type);
      const xs = x!.data;
      for (let i = 0; i < out.length; i++) out[i] = u.f(xs[i]!);
      return { data: out, shape: shapeOf(v) };
    },
  };
}

function unaryGradDef(name: OpName, g: (typeof UNARY_GRAD)[string]): OpDef {
  return {
    name,
    class: 'elementwise',
    arity: 2,
    attrs: {},
    infer: sameShapes(name),
    noGrad: 'backward op (no second-order derivatives)',
    cost: (v) => streamingCost(v, g.flops),
    ref: ([s, dy], v, ctx) => {
      const out = like(ctx, v.type);
      for (let i = 0; i < out.length; i++) out[i] = g.f(s!.data[i]!, dy!.data[i]!);
      return { data: out, shape: shapeOf(v) };
    },
  };
}

/** The cotangent for an operand that was broadcast up to the result's shape. */
export function unbroadcast(b: Builder, dy: Value, to: TensorType): Value {
  return sameShape(dy.type.shape, to.shape) ? dy : b.op('sum_to', [dy], { shape: to.shape as number[] });
}

const binaryGrads: Record<string, (b: Builder, v: Value, dy: Value) => [Value, Value]> = {
  add: (_b, _v, dy) => [dy, dy],
  sub: (b, _v, dy) => [dy, b.op('neg', [dy])],
  mul: (b, v, dy) => [b.op('mul', [dy, v.inputs[1]!]), b.op('mul', [dy, v.inputs[0]!])],
  div: (b, v, dy) => {
    const dx = b.op('div', [dy, v.inputs[1]!]);
    return [dx, b.op('neg', [b.op('mul', [dx, v])])];
  },
};

function binaryDef(name: OpName, f: (a: number, b: number) => number): OpDef {
  return {
    name,
    class: 'elementwise',
    arity: 2,
    attrs: {},
    infer: ([a, b]) => {
      if (a!.dtype !== b!.dtype) throw new ShapeError(`${name}: dtypes differ: ${a!.dtype} vs ${b!.dtype}`);
      return { dtype: a!.dtype, shape: broadcastShapes(a!.shape, b!.shape) };
    },
    grad: (b, v, dy) => {
      const [da, db] = binaryGrads[name]!(b, v, dy);
      return [unbroadcast(b, da, v.inputs[0]!.type), unbroadcast(b, db, v.inputs[1]!.type)];
    },
    cost: (v) => streamingCost(v, 1),
    ref: ([a, b], v, ctx) => refBinary(a!, b!, shapeOf(v), ctx.floats, v.type.dtype[0] === 'i', f),
  };
}

function refBinary(
  a: NDArray,
  b: NDArray,
  shape: number[],
  floats: (n: number) => Float32Array | Float64Array,
  isInt: boolean,
  f: (a: number, b: number) => number,
): NDArray {
  const n = shape.reduce((x, d) => x * d, 1);
  const out = isInt ? new Int32Array(n) : floats(n);
  const ia = broadcastIndex(shape, a.shape);
  const ib = broadcastIndex(shape, b.shape);
  const ad = a.data;
  const bd = b.data;
  if (!ia && !ib) for (let i = 0; i < n; i++) out[i] = f(ad[i]!, bd[i]!);
  else if (!ia) for (let i = 0; i < n; i++) out[i] = f(ad[i]!, bd[ib![i]!]!);
  else if (!ib) for (let i = 0; i < n; i++) out[i] = f(ad[ia[i]!]!, bd[i]!);
  else for (let i = 0; i < n; i++) out[i] = f(ad[ia[i]!]!, bd[ib[i]!]!);
  return { data: out, shape };
}

export const elementwiseOps: OpDef[] = [
  // the tables' keys are op names (the registry test checks every name is in OP_NAMES)
  ...Object.entries(UNARY).map(([n, u]) => unaryDef(n as OpName, u)),
  ...Object.entries(UNARY_GRAD).map(([n, g]) => unaryGradDef(n as OpName, g)),
  ...Object.entries(BINARY).map(([n, b]) => binaryDef(n as OpName, b.f)),
];
