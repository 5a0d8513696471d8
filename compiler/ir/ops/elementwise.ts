import type { OpName } from '../op-names.ts';
import type { Value } from '../graph.ts';
import type { NDArray, OpDef } from '../op.ts';
import { streamingCost } from '../op.ts';
import { broadcastShapes, ShapeError, type TensorType } from '../types.ts';
import { broadcastIndex, floatLike, like, sameShape, sameShapes, shapeOf } from './util.ts';
import type { Builder } from '../builder.ts';
import * as K from '../../kernel/build.ts';
import type { Bind } from '../../kernel/build.ts';
import type { Expr } from '../../kernel/ir.ts';
import { scalarFunction } from '../../kernel/js.ts';
import { FP8_SCALAR } from './fp8.ts';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** `sqrt(2/π)·(x + 0.044715·x³)`: the argument of gelu's tanh. */
const geluArg = (x: Expr) => K.mul(K.f32(SQRT_2_OVER_PI), K.add(x, K.mul(K.mul(K.mul(K.f32(0.044715), x), x), x)));

/**
 * Each elementwise op's scalar function, declared once as kernel IR: the CPU reference runs it (as JavaScript), fusion
 * composes it and every target renders it.
 */
export interface ScalarOp {
  arity: number;
  expr: (args: Expr[], bind: Bind) => Expr;
  flops: number;
}

/** Unary float ops: the scalar function, FLOPs per element, and the gradient in terms of other ops. */
interface Unary extends ScalarOp {
  grad: (b: Builder, v: Value, dy: Value) => Value;
}

const unary = (expr: (x: Expr, bind: Bind) => Expr, flops: number, grad: Unary['grad']): Unary => ({
  arity: 1,
  expr: ([x], bind) => expr(x!, bind),
  flops,
  grad,
});

export const UNARY: Record<string, Unary> = {
  neg: unary(K.neg, 1, (b, _v, dy) => b.op('neg', [dy])),
  // |x|; its derivative sign(x) (0 at 0) is x / |x| with 0 / 0 read as 0
  abs: unary(
    (x) => K.select(K.lt(x, K.f32(0)), K.neg(x), x),
    1,
    (b, v, dy) => b.op('abs_grad', [v.inputs[0]!, dy]),
  ),
  // NaN and -0 give 0
  relu: unary(
    (x) => K.select(K.gt(x, K.f32(0)), x, K.f32(0)),
    1,
    (b, v, dy) => b.op('relu_grad', [v.inputs[0]!, dy]),
  ),
  // Clevert et al. 2016 (α = 1): GAT's activation
  elu: unary(
    (x) => K.select(K.gt(x, K.f32(0)), x, K.sub(K.call('exp', x), K.f32(1))),
    3,
    (b, v, dy) => b.op('elu_grad', [v.inputs[0]!, dy]),
  ),
  gelu: unary(
    (x) => K.mul(K.mul(K.f32(0.5), x), K.add(K.f32(1), K.call('tanh', geluArg(x)))),
    10,
    (b, v, dy) => b.op('gelu_grad', [v.inputs[0]!, dy]),
  ),
  tanh: unary(
    (x) => K.call('tanh', x),
    4,
    (b, v, dy) => b.op('tanh_grad', [v, dy]),
  ),
  exp: unary(
    (x) => K.call('exp', x),
    2,
    (b, v, dy) => b.op('mul', [dy, v]),
  ),
  log: unary(
    (x) => K.call('log', x),
    2,
    (b, v, dy) => b.op('div', [dy, v.inputs[0]!]),
  ),
  sigmoid: unary(
    (x) => K.div(K.f32(1), K.add(K.f32(1), K.call('exp', K.neg(x)))),
    4,
    (b, v, dy) => b.op('sigmoid_grad', [v, dy]),
  ),
  sqrt: unary(
    (x) => K.call('sqrt', x),
    2,
    (b, v, dy) => b.op('div', [b.op('mul', [dy, b.scalar(0.5, dy.type.dtype)]), v]),
  ),
};

/** Backward ops of the unary functions: (saved operand or result, dy) -> dx. */
export const UNARY_GRAD: Record<string, ScalarOp & { saved: 'x' | 'y' }> = {
  abs_grad: {
    arity: 2,
    expr: ([x, dy]) => K.select(K.lt(x!, K.f32(0)), K.neg(dy!), K.select(K.gt(x!, K.f32(0)), dy!, K.f32(0))),
    flops: 1,
    saved: 'x',
  },
  relu_grad: { arity: 2, expr: ([x, dy]) => K.select(K.gt(x!, K.f32(0)), dy!, K.f32(0)), flops: 1, saved: 'x' },
  elu_grad: {
    arity: 2,
    expr: ([x, dy]) => K.select(K.gt(x!, K.f32(0)), dy!, K.mul(dy!, K.call('exp', x!))),
    flops: 3,
    saved: 'x',
  },
  gelu_grad: {
    arity: 2,
    expr: ([x0, dy], bind) => {
      const x = x0!;
      const t = bind(K.call('tanh', geluArg(x)));
      const du = bind(K.mul(K.f32(SQRT_2_OVER_PI), K.add(K.f32(1), K.mul(K.mul(K.f32(3 * 0.044715), x), x))));
      const one = K.f32(1);
      const half = K.f32(0.5);
      return K.mul(dy!, K.add(K.mul(half, K.add(one, t)), K.mul(K.mul(K.mul(half, x), K.sub(one, K.mul(t, t))), du)));
    },
    flops: 16,
    saved: 'x',
  },
  tanh_grad: { arity: 2, expr: ([y, dy]) => K.mul(dy!, K.sub(K.f32(1), K.mul(y!, y!))), flops: 3, saved: 'y' },
  sigmoid_grad: { arity: 2, expr: ([y, dy]) => K.mul(K.mul(dy!, y!), K.sub(K.f32(1), y!)), flops: 3, saved: 'y' },
};

export const BINARY: Record<string, ScalarOp> = {
  add: { arity: 2, expr: ([a, b]) => K.add(a!, b!), flops: 1 },
  sub: { arity: 2, expr: ([a, b]) => K.sub(a!, b!), flops: 1 },
  mul: { arity: 2, expr: ([a, b]) => K.mul(a!, b!), flops: 1 },
  div: { arity: 2, expr: ([a, b]) => K.div(a!, b!), flops: 1 },
};

/** Every op with a scalar function, by name. */
export const SCALAR_OPS: Readonly<Record<string, ScalarOp>> = { ...UNARY, ...UNARY_GRAD, ...BINARY, ...FP8_SCALAR };

const compiled = new Map<string, (...xs: number[]) => number>();
/** The op's scalar function in JavaScript (compiled once). */
export function scalarOf(op: string): (...xs: number[]) => number {
  let f = compiled.get(op);
  if (!f) {
    const s = SCALAR_OPS[op]!;
    f = scalarFunction(s.arity, s.expr);
    compiled.set(op, f);
  }
  return f;
}

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
      const f = scalarOf(name);
      for (let i = 0; i < out.length; i++) out[i] = f(xs[i]!);
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
      const f = scalarOf(name);
      for (let i = 0; i < out.length; i++) out[i] = f(s!.data[i]!, dy!.data[i]!);
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

/**
 * `fp8_e4m3(x, s)`, `fp8_e5m2(x, s)`: x quantised to FP8 under the scalar scale s and back (fp8.ts). Autodiff passes
 * the gradient straight through to x (Bengio et al. 2013's estimator, as FP8 training does: the rounding's derivative
 * is 0 almost everywhere); the scale, a statistic, has none.
 */
function fp8Def(name: OpName): OpDef {
  return {
    name,
    class: 'elementwise',
    arity: 2,
    attrs: {},
    infer: ([x, s]) => {
      if (x!.dtype !== s!.dtype) throw new ShapeError(`${name}: dtypes differ: ${x!.dtype} vs ${s!.dtype}`);
      if (s!.shape.length) throw new ShapeError(`${name}: the scale is a scalar`);
      return { ...x! };
    },
    grad: (_b, _v, dy) => [dy, undefined],
    cost: (v) => streamingCost(v, FP8_SCALAR[name as 'fp8_e4m3'].flops),
    ref: ([x, s], v, ctx) => refBinary(x!, s!, shapeOf(v), ctx.floats, false, scalarOf(name)),
  };
}

export const elementwiseOps: OpDef[] = [
  // the tables' keys are op names (the registry test checks every name is in OP_NAMES)
  ...Object.entries(UNARY).map(([n, u]) => unaryDef(n as OpName, u)),
  ...Object.entries(UNARY_GRAD).map(([n, g]) => unaryGradDef(n as OpName, g)),
  ...Object.keys(BINARY).map((n) => binaryDef(n as OpName, scalarOf(n))),
  ...Object.keys(FP8_SCALAR).map((n) => fp8Def(n as OpName)),
];
