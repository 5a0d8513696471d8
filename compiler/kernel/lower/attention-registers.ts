import type { Value } from '../../ir/graph.ts';
import { type AttentionSizes, attentionGradLayout, attentionSizes } from '../../ir/ops/attention.ts';
import * as K from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import { alibiTerm, f, keepOf, LOW, ofHead, seedStepOf, slopeOf, U, u } from './attention-parts.ts';
import { flat, type KernelBody, operand, res } from './common.ts';

/**
 * Fused attention's kernels for devices whose invocations run apart (C, WGSL's `cpu` class): register blocking, as
 * the cpu-class matmul does. An invocation owns QB query rows (the backward's dk/dv role: KB key rows) and steps over
 * KB keys (QB queries) at a time; the QB·KB scores of a step are scalars, summed over the head's elements with each
 * q and k element loaded once for the step, and each V row's element once for the QB rows. A row's accumulator is
 * the only array.
 */

/** Query rows per invocation, and keys per step (SwiftShader at T 1024: 8×8 0.47 s, 8×4 0.65 s, 8×16 0.45 s). */
const QB = 8;
const KB = 8;
const QS = [...Array(QB).keys()];
const KS = [...Array(KB).keys()];

const at2 = (name: string, r: number, c: number) => `${name}${r}_${c}`;
/** a₀·b₀ + a₁·b₁ + … after `first` (left to right). */
const sumOf = (first: Expr, terms: [Expr, Expr][]): Expr => terms.reduce((s, [a, b]) => K.add(s, K.mul(a, b)), first);

/** The scaled (and ALiBi-biased) score of query position `qi` and key position `j` from the dot product `qk`. */
const scoreOf = (z: AttentionSizes, qk: Expr, qi: Expr, j: Expr): Expr =>
  z.alibi
    ? K.add(K.mul(qk, K.f32(z.scale)), alibiTerm(f('slope'), K.add(qi, U(z.s - z.t)), j))
    : K.mul(qk, K.f32(z.scale));

/**
 * Σ_d a_r[d]·b_c[d] into the scalars `into`r_c for every pair of QB/KB rows: one loop over d < n, loading a's rows
 * at `aRow(r)`·n and b's at `bRow(c)`·n of their buffers once per d.
 */
const pairDots = (
  into: string,
  n: number,
  a: string,
  aRow: (r: number) => Expr,
  rows: number[],
  b: string,
  bRow: (c: number) => Expr,
  cols: number[],
): Stmt[] => [
  ...rows.flatMap((r) => cols.map((c) => K.var_(at2(into, r, c), K.f32(0)))),
  ...rows.map((r) => K.let_(`${into}ra${r}`, K.mul(aRow(r), U(n)))),
  ...cols.map((c) => K.let_(`${into}rb${c}`, K.mul(bRow(c), U(n)))),
  K.loop('d', U(0), U(n), [
    ...cols.map((c) => K.let_(`${into}b${c}`, K.load(b, K.add(u(`${into}rb${c}`), u('d'))))),
    ...rows.flatMap((r) => [
      K.let_(`${into}a${r}`, K.load(a, K.add(u(`${into}ra${r}`), u('d')))),
      ...cols.map((c) => K.set(at2(into, r, c), K.mul(f(`${into}a${r}`), f(`${into}b${c}`)), '+')),
    ]),
  ]),
];

/** Query row r of the block at `q0` of head `bh` (clamped: rows past T compute what is dropped). */
const queryRow = (z: AttentionSizes, r: number): Expr =>
  K.add(K.mul(u('bh'), U(z.t)), K.min(K.add(u('q0'), U(r)), U(z.t - 1)));
/**
 * `nk`r: the keys query row r of the block at `q0` sees (keys j < nk_r; none for rows past T), so that each pair's
 * mask is one comparison.
 */
const rowLimits = (z: AttentionSizes): Stmt[] =>
  QS.map((r) => {
    const qi = K.add(u('q0'), U(r));
    const limit = z.causal ? K.min(U(z.s), K.add(qi, U(z.s - z.t + 1))) : U(z.s);
    return K.let_(`nk${r}`, K.select(K.lt(qi, U(z.t)), limit, U(0)));
  });
const sees = (r: number, j: Expr): Expr => K.lt(j, u(`nk${r}`));

/**
 * The forward (with V: o, its rows written by `finish` from the accumulator at r·dv of `acc`, `l` and `m`) or the
 * log-sum-exp (without): each step's scores, then per row the online softmax's rescale c = exp(m − m') once, and the
 * accumulator updated once per element for the step's KB keys.
 */
export function registerForward(v: Value, z: AttentionSizes, withV: boolean, finish: (at: Expr) => Stmt[]): KernelBody {
  const nb = Math.ceil(z.t / QB);
  const key = (c: number) => K.add(u('kv'), K.min(K.add(u('j0'), U(c)), U(z.s - 1)));
  const qi = (r: number) => K.add(u('q0'), U(r));
  const j = (c: number) => K.add(u('j0'), U(c));
  const weights: Stmt[] = QS.flatMap((r) => {
    const t = (c: number) => f(at2('t', r, c));
    const m = `m${r}`;
    return [
      ...KS.map((c) =>
        K.let_(at2('t', r, c), K.select(sees(r, j(c)), scoreOf(z, f(at2('s', r, c)), qi(r), j(c)), K.f32(LOW))),
      ),
      K.let_(
        `n${r}`,
        KS.slice(1).reduce((x, c) => K.max(x, t(c)), K.max(f(m), t(0))),
      ),
      K.let_(`c${r}`, K.call('exp', K.sub(f(m), f(`n${r}`)))),
      K.set(m, f(`n${r}`)),
      ...KS.map((c) =>
        K.let_(at2('p', r, c), K.select(sees(r, j(c)), K.call('exp', K.sub(t(c), f(`n${r}`))), K.f32(0))),
      ),
      K.set(
        `l${r}`,
        KS.reduce((x, c) => K.add(x, f(at2('p', r, c))), K.mul(f(`l${r}`), f(`c${r}`))),
      ),
      ...(z.dropout && withV
        ? KS.flatMap((c) => [
            K.var_(at2('w', r, c), f(at2('p', r, c))),
            K.if_(sees(r, j(c)), [
              K.let_('j', j(c)),
              ...keepOf(z, queryRow(z, r)),
              K.set(at2('w', r, c), K.mul(f(at2('p', r, c)), f('keep'))),
            ]),
          ])
        : []),
    ];
  });
  const w = z.dropout ? 'w' : 'p';
  const accumulate = K.loop('d', U(0), U(z.dv), [
    ...KS.map((c) => K.let_(`v${c}`, K.load(operand(v, 2), K.add(K.mul(key(c), U(z.dv)), u('d'))))),
    ...QS.map((r) => {
      const a = K.add(U(r * z.dv), u('d'));
      const terms = KS.map((c): [Expr, Expr] => [f(at2(w, r, c)), f(`v${c}`)]);
      return K.setAt('acc', a, sumOf(K.mul(K.load('acc', a, 'f32'), f(`c${r}`)), terms));
    }),
  ]);
  return flat(z.n * z.h * nb, [
    K.let_('bh', K.div(u('i'), U(nb))),
    K.let_('q0', K.mul(K.mod(u('i'), U(nb)), U(QB))),
    // the block's last row sees the most keys
    K.let_('qi', K.min(K.add(u('q0'), U(QB - 1)), U(z.t - 1))),
    ...ofHead(z),
    ...rowLimits(z),
    ...(withV ? seedStepOf(v, z, 3) : []),
    ...(withV ? [K.array('acc', 'f32', QB * z.dv)] : []),
    ...QS.flatMap((r) => [K.var_(`m${r}`, K.f32(LOW)), K.var_(`l${r}`, K.f32(0))]),
    K.loop(
      'j0',
      U(0),
      u('nk'),
      [
        ...pairDots('s', z.dh, operand(v, 0), (r) => queryRow(z, r), QS, operand(v, 1), key, KS),
        ...weights,
        ...(withV ? [accumulate] : []),
      ],
      U(KB),
    ),
    ...QS.map((r) =>
      K.if_(K.lt(qi(r), U(z.t)), [
        K.let_('i', K.add(K.mul(u('bh'), U(z.t)), qi(r))),
        K.let_('m', f(`m${r}`)),
        K.let_('l', f(`l${r}`)),
        ...finish(U(r * z.dv)),
      ]),
    ),
  ]);
}

/**
 * dq, dk and dv. The first N·H·⌈T/QB⌉ invocations own QB query rows each (dq_i = scale Σ_j dS_ij k_j over KB keys a
 * step), the rest KB key rows each (dv_j = Σ_i P_ij do_i, dk_j = scale Σ_i dS_ij q_i over QB queries a step, for every
 * query head that shares them); P is recomputed from the saved log-sum-exp, dS_ij = P_ij (do_i · v_j − D_i) with
 * D_i = do_i · o_i.
 */
export function registerBackward(v: Value): KernelBody {
  const z = attentionSizes(v);
  const [q, k, val, o, lse, dO] = v.inputs.map((_, i) => operand(v, i)) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const [offQ, offK, offV] = attentionGradLayout(v.inputs).offsets as [number, number, number];
  const nbT = Math.ceil(z.t / QB);
  const nbS = Math.ceil(z.s / KB);
  const queries = z.n * z.h * nbT;
  const qi = (r: number) => K.add(u('q0'), U(r));
  const j = (c: number) => K.add(u('j0'), U(c));
  const keyRow = (c: number) => K.add(u('kv'), K.min(j(c), U(z.s - 1)));
  const row = (r: number) => queryRow(z, r);
  // each query row's do · o and log-sum-exp
  const rowStats: Stmt[] = [
    ...rowLimits(z),
    ...QS.map((r) => K.var_(`D${r}`, K.f32(0))),
    K.loop('d', U(0), U(z.dv), [
      ...QS.map((r) => {
        const x = K.add(K.mul(row(r), U(z.dv)), u('d'));
        return K.set(`D${r}`, K.mul(K.load(dO, x), K.load(o, x)), '+');
      }),
    ]),
    ...QS.map((r) => K.let_(`L${r}`, K.load(lse, row(r)))),
  ];
  // P and dS of the step's pairs (masked pairs 0), from the scores `s` and do · v `g`
  const grads: Stmt[] = [
    ...pairDots('s', z.dh, q, row, QS, k, keyRow, KS),
    ...pairDots('g', z.dv, dO, row, QS, val, keyRow, KS),
    ...QS.flatMap((r) =>
      KS.flatMap((c) => {
        const [p, ds] = [at2('p', r, c), at2('ds', r, c)];
        const ok = sees(r, j(c));
        const score = scoreOf(z, f(at2('s', r, c)), qi(r), j(c));
        return [
          K.var_(p, K.f32(0)),
          K.var_(ds, K.f32(0)),
          K.if_(ok, [
            K.let_('pr', K.call('exp', K.sub(score, f(`L${r}`)))),
            ...(z.dropout ? [K.let_('j', j(c)), ...keepOf(z, row(r))] : []),
            K.set(p, z.dropout ? K.mul(f('pr'), f('keep')) : f('pr')),
            K.set(
              ds,
              K.mul(
                K.mul(f('pr'), K.sub(z.dropout ? K.mul(f(at2('g', r, c)), f('keep')) : f(at2('g', r, c)), f(`D${r}`))),
                K.f32(z.scale),
              ),
            ),
          ]),
        ];
      }),
    ),
  ];
  const dqRole: Stmt[] = [
    K.let_('bh', K.div(u('i'), U(nbT))),
    K.let_('q0', K.mul(K.mod(u('i'), U(nbT)), U(QB))),
    K.let_('qi', K.min(K.add(u('q0'), U(QB - 1)), U(z.t - 1))),
    ...ofHead(z),
    ...rowStats,
    K.array('dq', 'f32', QB * z.dh),
    K.loop(
      'j0',
      U(0),
      u('nk'),
      [
        ...grads,
        K.loop('d', U(0), U(z.dh), [
          ...KS.map((c) => K.let_(`k${c}`, K.load(k, K.add(K.mul(keyRow(c), U(z.dh)), u('d'))))),
          ...QS.map((r) =>
            K.setAt(
              'dq',
              K.add(U(r * z.dh), u('d')),
              sumOf(
                K.f32(0),
                KS.map((c) => [f(at2('ds', r, c)), f(`k${c}`)]),
              ),
              '+',
            ),
          ),
        ]),
      ],
      U(KB),
    ),
    ...QS.map((r) =>
      K.if_(K.lt(qi(r), U(z.t)), [
        K.loop('d', U(0), U(z.dh), [
          K.store(
            res,
            K.add(U(offQ), K.add(K.mul(row(r), U(z.dh)), u('d'))),
            K.load('dq', K.add(U(r * z.dh), u('d')), 'f32'),
          ),
        ]),
      ]),
    ),
  ];
  // key rows j0 … j0 + KB − 1 of kv head bk (of the batch's N·Hkv) against query blocks from the first that sees j0:
  // name[c] += Σ_r weight_rc · buf's row r
  const addRows = (name: string, n: number, buf: string, weight: string) => [
    ...QS.map((r) => K.let_(`${name}r${r}`, K.mul(row(r), U(n)))),
    K.loop('d', U(0), U(n), [
      ...QS.map((r) => K.let_(`${name}x${r}`, K.load(buf, K.add(u(`${name}r${r}`), u('d'))))),
      ...KS.map((c) =>
        K.setAt(
          name,
          K.add(U(c * n), u('d')),
          sumOf(
            K.f32(0),
            QS.map((r) => [f(at2(weight, r, c)), f(`${name}x${r}`)]),
          ),
          '+',
        ),
      ),
    ]),
  ];
  const first = z.causal ? K.select(K.gt(u('j0'), U(z.s - z.t)), K.sub(u('j0'), U(z.s - z.t)), U(0)) : U(0);
  const dkvRole: Stmt[] = [
    K.let_('e', K.sub(u('i'), U(queries))),
    K.let_('bk', K.div(u('e'), U(nbS))),
    K.let_('j0', K.mul(K.mod(u('e'), U(nbS)), U(KB))),
    K.let_('kv', K.mul(u('bk'), U(z.s))),
    K.array('dk', 'f32', KB * z.dh),
    K.array('dv', 'f32', KB * z.dv),
    K.loop('g', U(0), U(z.g), [
      // query head (b·Hkv + kvh)·G + g = bk·G + g of the batch
      K.let_('bh', K.add(K.mul(u('bk'), U(z.g)), u('g'))),
      ...slopeOf(z),
      K.loop(
        'q0',
        first,
        U(z.t),
        [...rowStats, ...grads, ...addRows('dk', z.dh, q, 'ds'), ...addRows('dv', z.dv, dO, 'p')],
        U(QB),
      ),
    ]),
    ...KS.map((c) =>
      K.if_(K.lt(j(c), U(z.s)), [
        K.let_('e', K.add(u('kv'), j(c))),
        K.loop('d', U(0), U(z.dh), [
          K.store(
            res,
            K.add(U(offK), K.add(K.mul(u('e'), U(z.dh)), u('d'))),
            K.load('dk', K.add(U(c * z.dh), u('d')), 'f32'),
          ),
        ]),
        K.loop('d', U(0), U(z.dv), [
          K.store(
            res,
            K.add(U(offV), K.add(K.mul(u('e'), U(z.dv)), u('d'))),
            K.load('dv', K.add(U(c * z.dv), u('d')), 'f32'),
          ),
        ]),
      ]),
    ),
  ];
  return flat(queries + z.n * z.hkv * nbS, [...seedStepOf(v, z, 6), K.if_(K.lt(u('i'), U(queries)), dqRole, dkvRole)]);
}
