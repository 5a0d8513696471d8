import type { Value } from '../../ir/graph.ts';
import { alibiExponent, type AttentionSizes, attentionGradLayout, attentionSizes } from '../../ir/ops/attention.ts';
import * as K from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import { flat, type Lowering, operand, read, res } from './common.ts';
import { dropoutScale, seedStepHash } from './dropout-mask.ts';

/**
 * Fused attention's kernels, written once for every target: an invocation per query row (per key row for dk and dv)
 * that walks the row's visible keys (queries) keeping only running statistics — online softmax forward
 * (FlashAttention), the saved log-sum-exp backward — so no kernel holds more than a row's vector of head size. No
 * invocation waits for another: each writes only its own row.
 */

const u = (name: string) => K.ref(name);
const f = (name: string) => K.ref(name, 'f32');
const U = K.u32;
/** With dropout: `seedStep`, its hash of the seed and the step (the operand after `n`), once per invocation. */
const seedStepOf = (v: Value, z: AttentionSizes, n: number): Stmt[] => {
  if (!z.dropout) return [];
  const once: Stmt[] = [];
  const h = seedStepHash(z.seed, read(v, n, U(0)), (e) => {
    once.push(K.let_(`ss${once.length}`, e));
    return K.ref(`ss${once.length - 1}`, e.t);
  });
  return [...once, K.let_('seedStep', h)];
};

/**
 * Query row `r`'s multiplier of key `j`'s probability into `keep` (its dropout: the mask of element r·S + j of the
 * [..., H, T, S] probabilities); nothing without dropout.
 */
const keepOf = (z: AttentionSizes, r: Expr): Stmt[] => {
  if (!z.dropout) return [];
  const at: Stmt[] = [];
  const bind = (e: Expr) => {
    const name = `dm${at.length}`;
    at.push(K.let_(name, e));
    return K.ref(name, e.t);
  };
  const m = dropoutScale(u('seedStep'), K.add(K.mul(r, U(z.s)), u('j')), z.dropout, bind);
  return [...at, K.let_('keep', m)];
};

/** Below any score: exp(LOW − s) is 0 without an infinity in the kernel. */
const LOW = -3.0e38;

/**
 * Lanes of a row's vector: a loop over d < n written as blocks of LANES consecutive d (when LANES divides n), whose
 * fixed inner loop a compiler unrolls and vectorises (gcc's SLP; a C kernel with a local array is not
 * loop-vectorised), and whose sums run in LANES independent chains.
 */
const LANES = 8;
const lanes = (n: number, body: (d: Expr) => Stmt[]): Stmt =>
  n % LANES
    ? K.loop('d', U(0), U(n), body(u('d')))
    : K.loop('d0', U(0), U(n / LANES), [
        K.loop('ln', U(0), U(LANES), [K.let_('d', K.add(K.mul(u('d0'), U(LANES)), u('ln'))), ...body(u('d'))]),
      ]);

/** `into` = Σ_d a(d)·b(d) over d < n, in LANES partial sums. */
const dot = (into: string, n: number, a: (d: Expr) => Expr, b: (d: Expr) => Expr): Stmt[] =>
  n % LANES
    ? [K.var_(into, K.f32(0)), K.loop('d', U(0), U(n), [K.set(into, K.mul(a(u('d')), b(u('d'))), '+')])]
    : [
        K.array(`${into}_lanes`, 'f32', LANES),
        lanes(n, (d) => [K.setAt(`${into}_lanes`, u('ln'), K.mul(a(d), b(d)), '+')]),
        K.var_(into, K.f32(0)),
        K.loop('ln', U(0), U(LANES), [K.set(into, K.load(`${into}_lanes`, u('ln'), 'f32'), '+')]),
      ];

/** Query row `r` (of N·H·T): its head, batch, position `qi`, first key row `kv` and visible keys `nk`. */
function queryRow(z: AttentionSizes, r: Expr): Stmt[] {
  return [
    K.let_('bh', K.div(r, U(z.t))),
    K.let_('qi', K.mod(r, U(z.t))),
    K.let_('kv', K.mul(K.add(K.mul(K.div(u('bh'), U(z.h)), U(z.hkv)), K.div(K.mod(u('bh'), U(z.h)), U(z.g))), U(z.s))),
    K.let_('nk', z.causal ? K.min(U(z.s), K.add(u('qi'), U(z.s - z.t + 1))) : U(z.s)),
    ...slopeOf(z),
  ];
}

/** ALiBi's slope of head `h` (a u32 index below `heads`): 2^−(its exponent), as `alibiExponent` defines it. */
export const alibiSlope = (heads: number, alibi: number, h: Expr): Expr =>
  K.call(
    'pow',
    K.f32(2),
    K.neg(
      alibiExponent(heads, alibi, h, {
        lin: (x, a, b) => K.add(K.mul(K.cast('f32', x), K.f32(a)), K.f32(b)),
        below: (x, n, a, b) => K.select(K.lt(x, U(n)), a, b),
      }),
    ),
  );

/** ALiBi's −slope · |position − j| for query position `pos` and key `j` (u32s). */
export const alibiTerm = (slope: Expr, pos: Expr, j: Expr): Expr => {
  const d = K.sub(K.cast('f32', pos), K.cast('f32', j));
  return K.neg(K.mul(slope, K.select(K.lt(d, K.f32(0)), K.neg(d), d)));
};

/** With ALiBi: `slope`, the slope of query head `bh` (batch · H + head). */
const slopeOf = (z: AttentionSizes): Stmt[] =>
  z.alibi ? [K.let_('slope', alibiSlope(z.h, z.alibi, K.mod(u('bh'), U(z.h))))] : [];

/**
 * Row `r`'s score against key row `key`, scaled, into `s`; with ALiBi biased by the distance of key `j` from query
 * `qi`'s position (every caller names them so, and the head's `slope`).
 */
const score = (v: Value, z: AttentionSizes, r: Expr, key: Expr): Stmt[] => [
  ...dot(
    'qk',
    z.dh,
    (d) => K.load(operand(v, 0), K.add(K.mul(r, U(z.dh)), d)),
    (d) => K.load(operand(v, 1), K.add(K.mul(key, U(z.dh)), d)),
  ),
  K.let_(
    's',
    z.alibi
      ? K.add(K.mul(f('qk'), K.f32(z.scale)), alibiTerm(f('slope'), K.add(u('qi'), U(z.s - z.t)), u('j')))
      : K.mul(f('qk'), K.f32(z.scale)),
  ),
];

/**
 * Keys per block of the online softmax: one rescale (an exp, and the accumulator's) per block, not per key. Larger
 * blocks drift further from the CPU reference on SwiftShader (GPT Shakespeare's gradients after 2 steps: 4.2e-5 per
 * key, 6.4e-5 in blocks of 4, 1.1e-4 in blocks of 16).
 */
const BLOCK = 4;

/**
 * The online softmax over row `i`'s keys in blocks of BLOCK (FlashAttention-2): the block's scores first, then the
 * running max `m` and sum `l` rescaled once by c = exp(m − m'), then each key's weight p; `rescale` scales what the
 * caller accumulates by c, `each` adds key `j`'s weight p.
 */
const online = (v: Value, z: AttentionSizes, rescale: Stmt[], each: Stmt[]): Stmt[] => [
  K.var_('m', K.f32(LOW)),
  K.var_('l', K.f32(0)),
  K.loop(
    'j0',
    U(0),
    u('nk'),
    [
      K.array('sb', 'f32', BLOCK),
      K.var_('bm', K.f32(LOW)),
      K.loop('jj', U(0), U(BLOCK), [
        K.let_('j', K.add(u('j0'), u('jj'))),
        K.if_(
          K.lt(u('j'), u('nk')),
          [
            ...score(v, z, u('i'), K.add(u('kv'), u('j'))),
            K.setAt('sb', u('jj'), f('s')),
            K.set('bm', K.max(f('bm'), f('s'))),
          ],
          [K.setAt('sb', u('jj'), K.f32(LOW))],
        ),
      ]),
      K.let_('m2', K.max(f('m'), f('bm'))),
      K.let_('c', K.call('exp', K.sub(f('m'), f('m2')))),
      K.set('l', K.mul(f('l'), f('c'))),
      ...rescale,
      K.loop('jj', U(0), K.min(U(BLOCK), K.sub(u('nk'), u('j0'))), [
        K.let_('j', K.add(u('j0'), u('jj'))),
        K.let_('p', K.call('exp', K.sub(K.load('sb', u('jj'), 'f32'), f('m2')))),
        K.set('l', K.add(f('l'), f('p'))),
        ...each,
      ]),
      K.set('m', f('m2')),
    ],
    U(BLOCK),
  ),
];

/** o = softmax(q·kᵀ · scale) · v, a query row per invocation. */
const forward: Lowering = (v) => {
  const z = attentionSizes(v);
  const acc = (d: Expr) => K.load('acc', d, 'f32');
  const weight = z.dropout ? K.mul(f('p'), f('keep')) : f('p');
  return flat(z.n * z.h * z.t, [
    ...seedStepOf(v, z, 3),
    ...queryRow(z, u('i')),
    K.array('acc', 'f32', z.dv),
    ...online(
      v,
      z,
      [lanes(z.dv, () => [K.setAt('acc', u('d'), K.mul(acc(u('d')), f('c')))])],
      [
        ...keepOf(z, u('i')),
        K.let_('pw', weight),
        lanes(z.dv, () => [
          K.setAt(
            'acc',
            u('d'),
            K.mul(f('pw'), K.load(operand(v, 2), K.add(K.mul(K.add(u('kv'), u('j')), U(z.dv)), u('d')))),
            '+',
          ),
        ]),
      ],
    ),
    K.loop('d', U(0), U(z.dv), [K.store(res, K.add(K.mul(u('i'), U(z.dv)), u('d')), K.div(acc(u('d')), f('l')))]),
  ]);
};

/** Each query row's log-sum-exp of its scores. */
const lse: Lowering = (v) => {
  const z = attentionSizes({ ...v, inputs: [v.inputs[0]!, v.inputs[1]!, v.inputs[1]!] });
  return flat(z.n * z.h * z.t, [
    ...queryRow(z, u('i')),
    ...online(v, z, [], []),
    K.store(res, u('i'), K.add(f('m'), K.call('log', f('l')))),
  ]);
};

/**
 * dq, dk and dv: the first N·H·T invocations a query row each (dq_i = scale Σ_j dS_ij k_j), the next N·Hkv·S a key
 * row each (dv_j = Σ_i P_ij do_i, dk_j = scale Σ_i dS_ij q_i over the query heads that share it), with P recomputed
 * from the saved log-sum-exp and dS_ij = P_ij (do_i · v_j − do_i · o_i).
 */
const backward: Lowering = (v) => {
  const z = attentionSizes(v);
  const [q, k, val, o, lseRows, dO] = v.inputs.map((_, i) => operand(v, i));
  const [offQ, offK, offV] = attentionGradLayout(v.inputs).offsets as [number, number, number];
  const queries = z.n * z.h * z.t;
  const at = (buf: string, row: Expr, n: number, d: Expr) => K.load(buf, K.add(K.mul(row, U(n)), d));
  // dS_ij · scale for query row r (its do · o in `D`) against key row `key` (key j of its row), and `pw`, P_ij as
  // the forward weighed v_j (dropped)
  const dsOf = (r: Expr, key: Expr): Stmt[] => [
    ...score(v, z, r, key),
    K.let_('p', K.call('exp', K.sub(f('s'), K.load(lseRows!, r)))),
    ...dot(
      'dp',
      z.dv,
      (d) => at(dO!, r, z.dv, d),
      (d) => at(val!, key, z.dv, d),
    ),
    ...keepOf(z, r),
    K.let_('pw', z.dropout ? K.mul(f('p'), f('keep')) : f('p')),
    K.let_('dpw', z.dropout ? K.mul(f('dp'), f('keep')) : f('dp')),
    K.let_('ds', K.mul(K.mul(f('p'), K.sub(f('dpw'), f('D'))), K.f32(z.scale))),
  ];
  const rowD = (r: Expr): Stmt[] =>
    dot(
      'D',
      z.dv,
      (d) => at(dO!, r, z.dv, d),
      (d) => at(o!, r, z.dv, d),
    );
  const dqRole: Stmt[] = [
    ...queryRow(z, u('i')),
    ...rowD(u('i')),
    K.array('dq', 'f32', z.dh),
    K.loop('j', U(0), u('nk'), [
      K.let_('key', K.add(u('kv'), u('j'))),
      ...dsOf(u('i'), u('key')),
      lanes(z.dh, () => [K.setAt('dq', u('d'), K.mul(f('ds'), at(k!, u('key'), z.dh, u('d'))), '+')]),
    ]),
    K.loop('d', U(0), U(z.dh), [
      K.store(res, K.add(U(offQ), K.add(K.mul(u('i'), U(z.dh)), u('d'))), K.load('dq', u('d'), 'f32')),
    ]),
  ];
  // key row e = (b·Hkv + kvh)·S + j sees the queries i ≥ j − (S − T)
  const dkvRole: Stmt[] = [
    K.let_('e', K.sub(u('i'), U(queries))),
    K.let_('bk', K.div(u('e'), U(z.s))),
    K.let_('j', K.mod(u('e'), U(z.s))),
    K.let_('i0', z.causal ? K.select(K.gt(u('j'), U(z.s - z.t)), K.sub(u('j'), U(z.s - z.t)), U(0)) : U(0)),
    K.array('dk', 'f32', z.dh),
    K.array('dv', 'f32', z.dv),
    K.loop('g', U(0), U(z.g), [
      // query head (b·Hkv + kvh)·G + g = bk·G + g of the batch
      K.let_('bh', K.add(K.mul(u('bk'), U(z.g)), u('g'))),
      ...slopeOf(z),
      K.loop('qi', u('i0'), U(z.t), [
        K.let_('r', K.add(K.mul(u('bh'), U(z.t)), u('qi'))),
        ...rowD(u('r')),
        ...dsOf(u('r'), u('e')),
        lanes(z.dv, () => [K.setAt('dv', u('d'), K.mul(f('pw'), at(dO!, u('r'), z.dv, u('d'))), '+')]),
        lanes(z.dh, () => [K.setAt('dk', u('d'), K.mul(f('ds'), at(q!, u('r'), z.dh, u('d'))), '+')]),
      ]),
    ]),
    K.loop('d', U(0), U(z.dh), [
      K.store(res, K.add(U(offK), K.add(K.mul(u('e'), U(z.dh)), u('d'))), K.load('dk', u('d'), 'f32')),
    ]),
    K.loop('d', U(0), U(z.dv), [
      K.store(res, K.add(U(offV), K.add(K.mul(u('e'), U(z.dv)), u('d'))), K.load('dv', u('d'), 'f32')),
    ]),
  ];
  return flat(queries + z.n * z.hkv * z.s, [...seedStepOf(v, z, 6), K.if_(K.lt(u('i'), U(queries)), dqRole, dkvRole)]);
};

export const attentionLowerings: Record<string, Lowering> = {
  attention: forward,
  attention_lse: lse,
  attention_grad: backward,
};
