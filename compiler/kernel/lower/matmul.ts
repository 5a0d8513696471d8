import type { Value } from '../../ir/graph.ts';
import { bool } from '../../ir/ops/util.ts';
import * as K from '../build.ts';
import type { Expr, LibraryCall, Stmt } from '../ir.ts';
import {
  broadcastStrides,
  type KernelBody,
  linear,
  type Lowering,
  offset,
  operand,
  perWorkgroup,
  read,
  res,
  shape,
  strides as stridesOf,
  WG,
} from './common.ts';

const T = 4; // each invocation computes a T×T block of the result in registers
const G = 8; // 8×8 invocations per workgroup
const TILE = G * T; // a workgroup computes a TILE×TILE block of C…
const KT = 16; // …stepping through K in slices of KT held in workgroup memory
/** Results at most this wide use one invocation per row: A is read once. */
const NARROW = 32;

/**
 * Batched matmul. GPU class: tiled through workgroup memory with register blocking. CPU class: register-blocked, each
 * invocation owning a 4×4 block of C and streaming A and B through registers, with no workgroup memory and no barriers
 * (barriers are what CPU drivers pay for); narrow results one row per invocation.
 */
export const matmulLowerings: Record<string, Lowering> = {
  matmul: (v: Value, cls) => {
    const kb = cls === 'gpu' ? (longK(v) ? splitK(v) : tiled(v)) : narrow(v) ? rows(v) : blocked(v);
    const { m, n, k } = dims(v);
    return m * n * k >= LIBRARY_MIN ? { ...kb, library: sgemm(v) } : kb;
  },
};

/** Products of at least this many multiply-adds (per batch) go to a BLAS where the target links one; smaller ones
 * are faster as generated code than a library call and its threads' wake-up. */
const LIBRARY_MIN = 128 ** 3;

/** The same product as a BLAS sgemm per batch, for targets that link one. */
function sgemm(v: Value): LibraryCall {
  const { m, n, k, nb, aBatch, bBatch, batch } = dims(v);
  const z = Array.from({ length: nb }, (_, i) => i);
  const at = (strides: number[]) =>
    z.map((i) => batch.reduce((o, _d, a) => o + (Math.floor(i / stridesOf(batch)[a]!) % batch[a]!) * strides[a]!, 0));
  return {
    routine: 'sgemm',
    aBuf: operand(v, 0),
    bBuf: operand(v, 1),
    m,
    n,
    k,
    ta: bool(v.attrs, 'ta'),
    tb: bool(v.attrs, 'tb'),
    aOffsets: at(aBatch),
    bOffsets: at(bBatch),
  };
}

const narrow = (v: Value) => shape(v).at(-1)! <= NARROW && !bool(v.attrs, 'tb');
const u = K.u32;
const r = (name: string) => K.ref(name);
const f = (name: string) => K.ref(name, 'f32');

/** Sizes of a (batched) matmul, with element accessors of A and B given a batch's offsets `ao` and `bo`. */
function dims(v: Value) {
  const [a, b] = v.inputs as [Value, Value];
  const ta = bool(v.attrs, 'ta');
  const tb = bool(v.attrs, 'tb');
  const out = shape(v);
  const [m, n] = out.slice(-2) as [number, number];
  const k = ta ? shape(a).at(-2)! : shape(a).at(-1)!;
  const batch = out.slice(0, -2);
  const nb = batch.reduce((x, d) => x * d, 1);
  const aBatch = broadcastStrides(batch, shape(a).slice(0, -2)).map((s) => s * m * k);
  const bBatch = broadcastStrides(batch, shape(b).slice(0, -2)).map((s) => s * k * n);
  const A = (i: Expr, q: Expr) => read(v, 0, K.add(r('ao'), ta ? K.add(K.mul(q, u(m)), i) : K.add(K.mul(i, u(k)), q)));
  const B = (q: Expr, j: Expr) => read(v, 1, K.add(r('bo'), tb ? K.add(K.mul(j, u(k)), q) : K.add(K.mul(q, u(n)), j)));
  const offsets = (z: Expr): Stmt[] => [K.let_('ao', offset(z, batch, aBatch)), K.let_('bo', offset(z, batch, bBatch))];
  return { m, n, k, nb, A, B, offsets, aBatch, bBatch, batch };
}

/**
 * Each workgroup stages KT-deep slices of its TILE rows of A and TILE columns of B in workgroup memory (zero-padded at
 * the edges); each of its G×G invocations accumulates a T×T block of C in registers, over k in order (the CPU
 * reference's order for each element).
 */
function tiled(v: Value): KernelBody {
  const { m, n, k, nb, A, B, offsets } = dims(v);
  const threads = G * G;
  const loads = (TILE * KT) / threads;
  const clamp = (x: Expr, hi: number) => K.min(x, u(hi - 1));
  const [lid, q, t, e, x, row, col] = [K.lid, r('q'), r('t'), r('e'), r('x'), r('rr'), r('cc')];
  const tileA = (qq: Expr, i: Expr) => K.load('tile_a', K.add(K.mul(qq, u(TILE)), i));
  const tileB = (qq: Expr, j: Expr) => K.load('tile_b', K.add(K.mul(qq, u(TILE)), j));
  return {
    workgroup: [G, G, 1],
    dispatch: [Math.ceil(n / TILE), Math.ceil(m / TILE), nb],
    shared: [
      { name: 'tile_a', t: 'f32', size: KT * TILE },
      { name: 'tile_b', t: 'f32', size: KT * TILE },
    ],
    body: [
      K.let_('i0', K.mul(K.wid.y, u(TILE))),
      K.let_('j0', K.mul(K.wid.x, u(TILE))),
      K.let_('z', K.wid.z),
      K.let_('tx', K.mod(lid, u(G))),
      K.let_('ty', K.div(lid, u(G))),
      ...offsets(r('z')),
      K.array('acc', 'f32', T * T),
      K.loop(
        'q0',
        u(0),
        u(k),
        [
          K.loop('e', u(0), u(loads), [
            K.let_('x', K.add(lid, K.mul(e, u(threads)))),
            K.let_('ar', K.div(x, u(KT))),
            K.let_('aq', K.mod(x, u(KT))),
            K.let_('gi', K.add(r('i0'), r('ar'))),
            K.let_('ga', K.add(r('q0'), r('aq'))),
            K.setAt(
              'tile_a',
              K.add(K.mul(r('aq'), u(TILE)), r('ar')),
              K.select(
                K.and(K.lt(r('gi'), u(m)), K.lt(r('ga'), u(k))),
                A(clamp(r('gi'), m), clamp(r('ga'), k)),
                K.f32(0),
              ),
            ),
            K.let_('bq', K.div(x, u(TILE))),
            K.let_('bc', K.mod(x, u(TILE))),
            K.let_('gj', K.add(r('j0'), r('bc'))),
            K.let_('gb', K.add(r('q0'), r('bq'))),
            K.setAt(
              'tile_b',
              K.add(K.mul(r('bq'), u(TILE)), r('bc')),
              K.select(
                K.and(K.lt(r('gj'), u(n)), K.lt(r('gb'), u(k))),
                B(clamp(r('gb'), k), clamp(r('gj'), n)),
                K.f32(0),
              ),
            ),
          ]),
          K.barrier,
          K.loop('q', u(0), u(KT), [
            K.array('av', 'f32', T),
            K.array('bv', 'f32', T),
            K.loop('t', u(0), u(T), [
              K.setAt('av', t, tileA(q, K.add(K.mul(r('ty'), u(T)), t))),
              K.setAt('bv', t, tileB(q, K.add(K.mul(r('tx'), u(T)), t))),
            ]),
            K.loop('rr', u(0), u(T), [
              K.loop('cc', u(0), u(T), [
                K.setAt('acc', K.add(K.mul(row, u(T)), col), K.mul(K.load('av', row), K.load('bv', col)), '+'),
              ]),
            ]),
          ]),
          K.barrier,
        ],
        u(KT),
      ),
      K.let_('co', K.mul(r('z'), u(m * n))),
      K.loop('rr', u(0), u(T), [
        K.loop('cc', u(0), u(T), [
          K.let_('gi', K.add(K.add(r('i0'), K.mul(r('ty'), u(T))), row)),
          K.let_('gj', K.add(K.add(r('j0'), K.mul(r('tx'), u(T))), col)),
          K.if_(K.and(K.lt(r('gi'), u(m)), K.lt(r('gj'), u(n))), [
            K.store(
              res,
              K.add(r('co'), K.add(K.mul(r('gi'), u(n)), r('gj'))),
              K.load('acc', K.add(K.mul(row, u(T)), col)),
            ),
          ]),
        ]),
      ]),
    ],
  };
}

/**
 * A narrow product over a long reduction (a weight's gradient over many rows: 64×16 outputs over k = 100,000) would
 * be one or two workgroups of the tiled kernel, each walking all of k: its reduction is split instead (split-K
 * within a workgroup), one workgroup per row of C whose invocations stride over k, then a workgroup reduction per
 * column. No scratch memory: the partial sums meet in the workgroup.
 */
const longK = (v: Value) => {
  const { m, n, k, nb } = dims(v);
  return n <= NARROW && k >= 2048 && Math.ceil(m / TILE) * nb < 64;
};

function splitK(v: Value): KernelBody {
  const { m, n, k, nb, A, B, offsets } = dims(v);
  const { dispatch, index } = perWorkgroup(m * nb);
  const [w, q, c] = [r('w'), r('q'), r('c')];
  return {
    workgroup: [WG, 1, 1],
    dispatch,
    body: [
      ...index,
      K.let_('z', K.div(w, u(m))),
      K.let_('row', K.mod(w, u(m))),
      ...offsets(r('z')),
      K.array('acc', 'f32', n),
      K.loop(
        'q',
        K.lid,
        u(k),
        [K.let_('av', A(r('row'), q)), K.loop('c', u(0), u(n), [K.setAt('acc', c, K.mul(f('av'), B(q, c)), '+')])],
        u(WG),
      ),
      K.loop('c', u(0), u(n), [
        K.wreduce('sum', K.load('acc', c), 'total'),
        K.if_(K.eq(K.lid, u(0)), [K.store(res, K.add(K.mul(w, u(n)), c), f('total'))]),
      ]),
    ],
  };
}

/** One invocation per row of C: A read once, B's rows streamed through the row's accumulators, zeros of A skipped. */
function rows(v: Value): KernelBody {
  const { m, n, k, nb, A, offsets } = dims(v);
  const { dispatch, index } = linear(m * nb);
  const [i, q, c] = [r('i'), r('q'), r('c')];
  return {
    workgroup: [WG, 1, 1],
    dispatch,
    body: [
      ...index,
      K.let_('z', K.div(i, u(m))),
      K.let_('row', K.mod(i, u(m))),
      ...offsets(r('z')),
      K.array('acc', 'f32', n),
      K.loop('q', u(0), u(k), [
        K.let_('av', A(r('row'), q)),
        // zeros of A skip a whole row of B: causal attention's masked half, ReLU's and dropout's zeros
        K.if_(K.eq(f('av'), K.f32(0)), [K.cont]),
        K.let_('bq', K.add(r('bo'), K.mul(q, u(n)))),
        K.loop('c', u(0), u(n), [K.setAt('acc', c, K.mul(f('av'), K.load(operand(v, 1), K.add(r('bq'), c))), '+')]),
      ]),
      K.let_('co', K.mul(i, u(n))),
      K.loop('c', u(0), u(n), [K.store(res, K.add(r('co'), c), K.load('acc', c))]),
    ],
  };
}

/** Register blocking without workgroup memory: each invocation a T×T block of C, A and B streamed over k. */
function blocked(v: Value): KernelBody {
  const { m, n, k, nb, A, B, offsets } = dims(v);
  const idx = Array.from({ length: T }, (_, t) => t);
  const [q, i0, j0, row, col] = [r('q'), r('i0'), r('j0'), r('rr'), r('cc')];
  const aRow = (t: number) =>
    K.let_(`av${t}`, K.select(K.lt(K.add(i0, u(t)), u(m)), A(K.min(K.add(i0, u(t)), u(m - 1)), q), K.f32(0)));
  const bCol = (t: number) =>
    K.let_(`bv${t}`, K.select(K.lt(K.add(j0, u(t)), u(n)), B(q, K.min(K.add(j0, u(t)), u(n - 1))), K.f32(0)));
  return {
    workgroup: [G, G, 1],
    dispatch: [Math.ceil(Math.ceil(n / T) / G), Math.ceil(Math.ceil(m / T) / G), nb],
    body: [
      K.let_('j0', K.mul(K.gid.x, u(T))),
      K.let_('i0', K.mul(K.gid.y, u(T))),
      K.let_('z', K.gid.z),
      K.if_(K.or(K.ge(i0, u(m)), K.ge(j0, u(n))), [K.ret]),
      ...offsets(r('z')),
      K.array('acc', 'f32', T * T),
      K.loop('q', u(0), u(k), [
        ...idx.map(aRow),
        // sparse operands (bag-of-words features, dropout) skip whole steps
        K.if_(K.and(...idx.map((t) => K.eq(f(`av${t}`), K.f32(0)))), [K.cont]),
        ...idx.map(bCol),
        ...idx.flatMap((a) => idx.map((b) => K.setAt('acc', u(a * T + b), K.mul(f(`av${a}`), f(`bv${b}`)), '+'))),
      ]),
      K.let_('co', K.mul(r('z'), u(m * n))),
      K.loop('rr', u(0), u(T), [
        K.loop('cc', u(0), u(T), [
          K.if_(K.and(K.lt(K.add(i0, row), u(m)), K.lt(K.add(j0, col), u(n))), [
            K.store(
              res,
              K.add(r('co'), K.add(K.mul(K.add(i0, row), u(n)), K.add(j0, col))),
              K.load('acc', K.add(K.mul(row, u(T)), col)),
            ),
          ]),
        ]),
      ]),
    ],
  };
}
