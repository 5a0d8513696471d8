import type { Value } from '../../ir/graph.ts';
import { parseExpr, type Expr as FusedExpr } from '../../ir/ops/fused.ts';
import { SCALAR_OPS } from '../../ir/ops/elementwise.ts';
import { adamStepAttrs } from '../../ir/ops/optimizer.ts';
import { ints, num } from '../../ir/ops/util.ts';
import * as K from '../build.ts';
import { alibiSlope, alibiTerm } from './attention-parts.ts';
import { dropoutScale, seedStepHash } from './dropout-mask.ts';
import type { Bind } from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import {
  broadcastStrides,
  count,
  type DeviceClass,
  elementLoop,
  ELEMENTS_PER_INVOCATION,
  flat,
  type KernelBody,
  type Lowering,
  offset,
  operand,
  read,
  res,
  shape,
  strides,
  zero,
} from './common.ts';

const i = K.ref('i');

/**
 * out[i] = f(operands read at their broadcast offsets), a run of elements per invocation as the device class wants.
 * `f` names subexpressions with `bind` (per element) or `once` (per invocation: what does not depend on the
 * element). Operands past `loaded` are not loaded for every element.
 */
function map(
  v: Value,
  cls: DeviceClass,
  f: (xs: Expr[], bind: Bind, once: Bind) => Expr,
  loaded = v.inputs.length,
): KernelBody {
  const stmts: Stmt[] = [];
  const prelude: Stmt[] = [];
  const xs = v.inputs.slice(0, loaded).map((of, k) => {
    const same = shape(of).length === shape(v).length && shape(of).every((d, j) => d === shape(v)[j]);
    const at = same ? i : offset(i, shape(v), broadcastStrides(shape(v), shape(of)));
    stmts.push(K.let_(`x${k}`, read(v, k, at)));
    return K.ref(`x${k}`, read(v, k, at).t);
  });
  let n = 0;
  const binder =
    (into: Stmt[], prefix: string): Bind =>
    (e) => {
      const name = `${prefix}${n++}`;
      into.push(K.let_(name, e));
      return K.ref(name, e.t);
    };
  const value = f(xs, binder(stmts, 't'), binder(prelude, 'u'));
  return elementLoop(count(v), ELEMENTS_PER_INVOCATION[cls], [...stmts, K.store(res, i, value)], prelude);
}

/** An elementwise op's kernel: its scalar function, declared once with the op. */
const scalarLowering =
  (op: string): Lowering =>
  (v, cls) =>
    map(v, cls, (xs, bind) => SCALAR_OPS[op]!.expr(xs, bind));

/** A fused chain: operands loaded once (broadcast as needed), then one `let` per op of the expression. */
function fused(v: Value, cls: DeviceClass): KernelBody {
  const e = parseExpr(String(v.attrs['expr']));
  return map(v, cls, (xs, bind) => {
    const emit = (x: FusedExpr): Expr => {
      if (x.kind === 'operand') return xs[x.index]!;
      if (x.kind === 'const') return K.f32(x.value);
      return bind(SCALAR_OPS[x.op]!.expr(x.args.map(emit), bind));
    };
    return emit(e);
  });
}

/**
 * 1 − bᵗ (Adam's bias corrections) without the cancellation of computing bᵗ first: in f32, 1 − 0.999 keeps 4 of its
 * 7 digits (a relative error of 1.3e-5 in every early update). It is −expm1(t·ln b), with ln b taken in double: a
 * Taylor series while |t·ln b| < 1/4 (8 terms, error below 1e-9), 1 − exp beyond (error below 3e-7).
 */
function oneMinusPow(b: number, t: Expr, bind: Bind): Expr {
  const x = bind(K.mul(t, K.f32(Math.log(b))));
  let term = x;
  let series = x;
  for (let k = 2; k <= 8; k++) {
    term = bind(K.mul(term, K.div(x, K.f32(k))));
    series = K.add(series, term);
  }
  const small = K.gt(x, K.f32(-0.25));
  return bind(K.select(small, K.neg(bind(series)), K.sub(K.f32(1), K.call('exp', x))));
}

const copy: Lowering = (v) => flat(count(v), [K.store(res, i, read(v, 0, i))]);

const withOffset = (v: Value, at: Expr): KernelBody => flat(count(v), [K.store(res, i, read(v, 0, at))]);

const literal = (v: Value) => (v.type.dtype === 'i32' ? K.i32(num(v.attrs, 'value')) : K.f32(num(v.attrs, 'value')));

const axisOf = (v: Value) => ((num(v.attrs, 'axis') % shape(v).length) + shape(v).length) % shape(v).length;
const product = (xs: number[]) => xs.reduce((a, d) => a * d, 1);

export const elementwiseLowerings: Record<string, Lowering> = {
  ...Object.fromEntries(Object.keys(SCALAR_OPS).map((op) => [op, scalarLowering(op)])),
  broadcast_to: (v, cls) => map(v, cls, ([x]) => x!),
  reshape: copy,
  // kernels compute and store f32: a cast between f32 tensors is a copy (half-precision plans are not built for
  // kernels)
  cast: copy,
  rope: (v) => {
    const [t, h] = shape(v).slice(-2) as [number, number];
    const half = h / 2;
    const j = K.ref('j');
    const p = K.ref('p');
    const angle = K.ref('angle', 'f32');
    const c = K.ref('c', 'f32');
    const s = K.ref('s', 'f32');
    const x = (at: Expr) => read(v, 0, at);
    return flat(count(v), [
      K.let_('j', K.mod(i, K.u32(h))),
      K.let_('p', K.add(K.mod(K.div(i, K.u32(h)), K.u32(t)), K.u32(Number(v.attrs['offset'] ?? 0)))),
      K.let_(
        'angle',
        K.mul(
          K.mul(K.f32(num(v.attrs, 'sign')), K.cast('f32', p)),
          K.call('pow', K.f32(num(v.attrs, 'base')), K.mul(K.f32(-2 / h), K.cast('f32', K.mod(j, K.u32(half))))),
        ),
      ),
      K.let_('c', K.call('cos', angle)),
      K.let_('s', K.call('sin', angle)),
      K.if_(
        K.lt(j, K.u32(half)),
        [K.store(res, i, K.sub(K.mul(x(i), c), K.mul(x(K.add(i, K.u32(half))), s)))],
        [K.store(res, i, K.add(K.mul(x(i), c), K.mul(x(K.sub(i, K.u32(half))), s)))],
      ),
    ]);
  },
  const: (v) => ({ workgroup: [1, 1, 1], dispatch: [1, 1, 1], body: [K.store(res, K.u32(0), literal(v))] }),
  full: (v) => flat(count(v), [K.store(res, i, literal(v))]),
  max_grad: (v, cls) => map(v, cls, ([x, y, dy]) => K.select(K.eq(x!, y!), dy!, K.f32(0))),
  dropout: (v, cls) => {
    const p = num(v.attrs, 'p');
    const seed = num(v.attrs, 'seed');
    return map(
      v,
      cls,
      ([x], bind, once) => {
        const seedStep = seedStepHash(seed, read(v, 1, K.u32(0)), once);
        const offset = num(v.attrs, 'offset', 0);
        const at = offset ? K.add(i, K.u32(offset)) : i; // the element's index in the whole tensor
        // branch-free, so that native code vectorises it (a zero stays zero either way)
        return K.mul(x!, dropoutScale(seedStep, at, p, bind));
      },
      1,
    );
  },
  causal_mask: (v, cls) => {
    const [t, s] = shape(v).slice(-2) as [number, number];
    const row = K.mod(K.div(i, K.u32(s)), K.u32(t));
    return map(v, cls, ([x]) =>
      K.select(K.gt(K.mod(i, K.u32(s)), K.add(row, K.u32(s - t))), K.f32(num(v.attrs, 'fill')), x!),
    );
  },
  alibi_bias: (v, cls) => {
    const [t, s] = shape(v).slice(-2) as [number, number];
    const heads = num(v.attrs, 'heads');
    const slope = alibiSlope(heads, num(v.attrs, 'alibi'), K.mod(K.div(i, K.u32(t * s)), K.u32(heads)));
    const row = K.mod(K.div(i, K.u32(s)), K.u32(t));
    return map(v, cls, ([x], bind) => K.add(x!, alibiTerm(bind(slope), K.add(row, K.u32(s - t)), K.mod(i, K.u32(s)))));
  },
  transpose: (v) => {
    const perm = ints(v.attrs, 'perm');
    const inStr = strides(shape(v.inputs[0]!));
    return withOffset(
      v,
      offset(
        i,
        shape(v),
        perm.map((p) => inStr[p]!),
      ),
    );
  },
  slice: (v) => withOffset(v, offset(i, shape(v), strides(shape(v.inputs[0]!)), ints(v.attrs, 'starts'))),
  pad: (v) => {
    const before = ints(v.attrs, 'before');
    const inShape = shape(v.inputs[0]!);
    const os = strides(shape(v));
    const is = strides(inShape);
    const c = (k: number) => K.ref(`c${k}`, 'i32');
    const coords = shape(v).map((d, k) =>
      K.let_(`c${k}`, K.sub(K.cast('i32', K.mod(K.div(i, K.u32(os[k]!)), K.u32(d))), K.i32(before[k]!))),
    );
    const inside = shape(v).map((_, k) => K.and(K.ge(c(k), K.i32(0)), K.lt(c(k), K.i32(inShape[k]!))));
    const at = shape(v).reduce<Expr>((a, _, k) => K.add(a, K.mul(K.cast('u32', c(k)), K.u32(is[k]!))), K.u32(0));
    return flat(count(v), [
      ...coords,
      K.if_(
        inside.length ? K.and(...inside) : K.eq(K.u32(0), K.u32(0)),
        [K.store(res, i, read(v, 0, at))],
        [K.store(res, i, zero(v))],
      ),
    ]);
  },
  concat: (v) => {
    const ax = axisOf(v);
    const inner = product(shape(v).slice(ax + 1));
    const total = shape(v)[ax]!;
    const [r, c, o] = [K.ref('r'), K.ref('c'), K.ref('o')];
    let at = 0;
    const branches = v.inputs.map((x, k) => {
      const w = shape(x)[ax]!;
      const from = at;
      at += w;
      const src = K.add(K.add(K.mul(o, K.u32(w * inner)), K.mul(K.sub(c, K.u32(from)), K.u32(inner))), r);
      return { cond: K.lt(c, K.u32(at)), stmt: K.store(res, i, read(v, k, src)) };
    });
    const chain = branches.reduceRight<Stmt[]>(
      (rest, b, k) => (k === branches.length - 1 ? [b.stmt] : [K.if_(b.cond, [b.stmt], rest)]),
      [],
    );
    return flat(count(v), [
      K.let_('r', K.mod(i, K.u32(inner))),
      K.let_('c', K.mod(K.div(i, K.u32(inner)), K.u32(total))),
      K.let_('o', K.div(i, K.u32(inner * total))),
      ...chain,
    ]);
  },
  gather: (v) => {
    const row = product(shape(v.inputs[0]!).slice(1));
    const rows = shape(v.inputs[0]!)[0]!;
    const r = K.ref('r', 'i32');
    return flat(count(v), [
      K.let_('r', read(v, 1, K.div(i, K.u32(row)))),
      K.if_(K.or(K.lt(r, K.i32(0)), K.ge(r, K.i32(rows))), [K.store(res, i, zero(v)), K.ret]),
      K.store(res, i, read(v, 0, K.add(K.mul(K.cast('u32', r), K.u32(row)), K.mod(i, K.u32(row))))),
    ]);
  },
  // one invocation per column: it copies the column of the base, then adds the updates' in index order (the CPU
  // reference's order); indices are read once per column, not once per output element
  scatter_add: (v) => {
    const row = product(shape(v).slice(1));
    const rows = shape(v)[0]!;
    const nIdx = count(v.inputs[1]!);
    const [q, r] = [K.ref('q'), K.ref('r', 'i32')];
    const at = (rr: Expr) => K.add(K.mul(rr, K.u32(row)), i);
    return flat(row, [
      K.loop('q', K.u32(0), K.u32(rows), [K.store(res, at(q), read(v, 0, at(q)))]),
      K.loop('q', K.u32(0), K.u32(nIdx), [
        K.let_('r', read(v, 1, q)),
        K.if_(K.and(K.ge(r, K.i32(0)), K.lt(r, K.i32(rows))), [
          K.store(res, at(K.cast('u32', r)), read(v, 2, at(q)), '+'),
        ]),
      ]),
    ]);
  },
  cache_view: (v) =>
    withOffset(
      v,
      offset(
        i,
        shape(v),
        strides(shape(v.inputs[0]!)),
        shape(v).map(() => 0),
      ),
    ),
  cache_write: (v) => {
    const ax = axisOf(v);
    const inner = product(shape(v).slice(ax + 1));
    const cap = shape(v)[ax]!;
    const n = shape(v.inputs[1]!)[ax]!;
    const at = num(v.attrs, 'at');
    const [r, c, o] = [K.ref('r'), K.ref('c'), K.ref('o')];
    const src = K.add(K.mul(K.sub(K.add(K.mul(o, K.u32(n)), c), K.u32(at)), K.u32(inner)), r);
    return flat(count(v), [
      K.let_('r', K.mod(i, K.u32(inner))),
      K.let_('c', K.mod(K.div(i, K.u32(inner)), K.u32(cap))),
      K.let_('o', K.div(i, K.u32(inner * cap))),
      K.if_(
        K.and(K.ge(c, K.u32(at)), K.lt(c, K.u32(at + n))),
        [K.store(res, i, read(v, 1, src))],
        [K.store(res, i, read(v, 0, i))],
      ),
    ]);
  },
  positions: (v) => flat(count(v), [K.store(res, i, K.add(K.cast('i32', i), K.i32(num(v.attrs, 'offset'))))]),
  fused,
  sgd: (v, cls) => map(v, cls, ([p, g]) => K.sub(p!, K.mul(K.f32(num(v.attrs, 'lr')), g!))),
  adam_m: (v, cls) => {
    const b = num(v.attrs, 'beta');
    return map(v, cls, ([m, g]) => K.add(K.mul(K.f32(b), m!), K.mul(K.f32(1 - b), g!)));
  },
  adam_v: (v, cls) => {
    const b = num(v.attrs, 'beta');
    return map(v, cls, ([m, g]) => K.add(K.mul(K.f32(b), m!), K.mul(K.mul(K.f32(1 - b), g!), g!)));
  },
  adam_step: (v, cls) => {
    const { lr, b1, b2, eps, decay } = adamStepAttrs(v.attrs);
    return map(
      v,
      cls,
      ([p, m, w], _bind, once) => {
        const t = once(K.cast('f32', read(v, 3, K.u32(0))));
        const c1 = oneMinusPow(b1, t, once);
        const c2 = oneMinusPow(b2, t, once);
        const adam = K.div(K.div(m!, c1), K.add(K.call('sqrt', K.div(w!, c2)), K.f32(eps)));
        return K.sub(p!, K.mul(K.f32(lr), K.add(adam, K.mul(K.f32(decay), p!))));
      },
      3,
    );
  },
};

export { operand };
