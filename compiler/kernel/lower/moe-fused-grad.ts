import type { Value } from '../../ir/graph.ts';
import { gradLayout, layerOperands } from '../../ir/ops/moe-layer.ts';
import * as K from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import { type DeviceClass, type KernelBody, operand, res } from './common.ts';
import {
  balanceScale,
  COLS,
  downTask,
  f,
  filled,
  gateTask,
  idx,
  type MoeContext,
  moeContext,
  placeTask,
  routeTask,
  tile,
  tileOf,
  tokensOf,
  U,
  u,
  upTask,
  WROWS,
  workers,
} from './moe-fused.ts';

/**
 * The fused backward kernel of an MoE layer (FlashDMoE has none): the forward's gate, route, place, up and down tasks
 * again (keeping the probabilities, gates and pre-activations), then, each waiting only on tasks before it:
 *
 *   dgate   (per TOKENS tokens)          dL/dgate = dy·(expert row), through renormalisation and, with the balance
 *                                        loss's term, softmax to dL/dlogits
 *   dhidden (per expert, ROWS slots, COLS hidden columns)   (gate·dy)·w2ᵀ through the activation
 *   dw2     (per expert, WROWS hidden rows, COLS columns)   Σ over the expert's slots of hiddenᵀ·(gate·dy); b2's too
 *   dw1     (per expert, WROWS input rows, COLS columns)    Σ over the expert's slots of xᵀ·dpre; b1's too
 *   dx      (per TOKENS tokens)          Σ over kept choices of dpre·w1ᵀ, plus dlogits·routerᵀ
 *   drouter (per WROWS input rows)       Σ over tokens of xᵀ·dlogits
 *
 * The result is every cotangent packed as `gradLayout` places them; the IR reads each as a `part`.
 */
export function fusedMoeGrad(v: Value, _cls: DeviceClass, cooperative: boolean): KernelBody {
  const cx = moeContext(v, cooperative, true);
  const { l, get, put, choice, slotRow, packedRow, w } = cx;
  const F = l.floats;
  const C = l.counters;
  const T = l.tasks;
  const dy = operand(v, layerOperands(v).length);
  // the balance loss's cotangent, per unit of probability of each expert: d · weight · E/(T·k) · chosen_e / T
  const dbal = cx.balance
    ? K.div(
        K.mul(K.load(operand(v, layerOperands(v).length + 1), U(0)), K.f32(cx.balance * balanceScale(l))),
        K.f32(l.t),
      )
    : undefined;
  const balAt = (j: Expr) => K.mul(get(F.chosen, j), f('dbal'));
  const out = gradLayout(v).offsets;
  const gelu = cx.act === 'gelu';
  const sync = cx.sync;
  const dyAt = (token: Expr, j: Expr) => K.load(dy, K.add(K.mul(token, U(l.d)), j));

  // dgate: dL/dg_r = dy_t · o_{slot}; renormalised gates g_r = p_r / Σp; softmax's adjoint to the logits
  const dgate: Stmt[] = [
    K.let_('g', K.sub(u('task'), U(T.dgate))),
    K.wait(sync, U(C.down), U(l.e * l.rb * l.db)),
    tokensOf(cx, u('g'), [
      K.array('dg', 'f32', l.k),
      K.var_('sp', K.f32(0)),
      K.loop('r', U(0), U(l.k), [
        K.let_('sl', idx(get(F.slot, choice(u('r'))))),
        K.var_('acc', K.f32(0)),
        K.if_(K.lt(u('sl'), U(l.s)), [
          K.let_('row', cx.rowOfSlot(u('sl'))),
          K.loop('j', U(0), U(l.d), [
            K.set('acc', K.mul(dyAt(u('t'), u('j')), get(F.out, K.add(K.mul(u('row'), U(l.ds)), u('j')))), '+'),
          ]),
        ]),
        K.setAt('dg', u('r'), f('acc')),
        K.set('sp', get(F.raw, choice(u('r'))), '+'),
      ]),
      ...(cx.renormalize
        ? [
            K.var_('q', K.f32(0)),
            K.loop('r', U(0), U(l.k), [
              K.set('q', K.mul(K.load('dg', u('r'), 'f32'), get(F.raw, choice(u('r')))), '+'),
            ]),
            K.loop('r', U(0), U(l.k), [
              K.setAt(
                'dg',
                u('r'),
                K.sub(K.div(K.load('dg', u('r'), 'f32'), f('sp')), K.div(f('q'), K.mul(f('sp'), f('sp')))),
              ),
            ]),
          ]
        : []),
      K.var_('dot', K.f32(0)),
      K.loop('r', U(0), U(l.k), [K.set('dot', K.mul(get(F.raw, choice(u('r'))), K.load('dg', u('r'), 'f32')), '+')]),
      ...(dbal
        ? [
            K.let_('dbal', dbal),
            K.loop('j', U(0), U(l.e), [
              K.set('dot', K.mul(get(F.probs, K.add(K.mul(u('t'), U(l.e)), u('j'))), balAt(u('j'))), '+'),
            ]),
          ]
        : []),
      K.loop('j', U(0), U(l.e), [
        K.var_('dp', dbal ? balAt(u('j')) : K.f32(0)),
        K.loop('r', U(0), U(l.k), [
          K.if_(K.eq(idx(get(F.choice, choice(u('r')))), u('j')), [K.set('dp', K.load('dg', u('r'), 'f32'), '+')]),
        ]),
        K.let_('pe', get(F.probs, K.add(K.mul(u('t'), U(l.e)), u('j')))),
        put(F.dlog, K.add(K.mul(u('t'), U(l.e)), u('j')), K.mul(f('pe'), K.sub(f('dp'), f('dot')))),
      ]),
    ]),
    K.signal(sync, U(C.dgated)),
  ];

  // dhidden: do_s = gate_s · dy[token(s)]; dh = do_s · w2ᵀ; through gelu, or SwiGLU's two factors
  const dhiddenTile = tile(cx, {
    cols: l.h,
    inner: l.d,
    row: (r) => K.mul(idx(get(F.token, slotRow(r))), U(l.d)),
    a: (i) => K.load(dy, i),
    weights: [w[2]!],
    weight: (i, j) => K.add(K.mul(K.add(K.mul(u('e'), U(l.h)), j), U(l.d)), i),
    store: ([s0], r, j) => {
      const at = K.add(K.mul(packedRow(r), U(l.hs)), j);
      const lets: Stmt[] = [K.let_('dh', K.mul(s0!, get(F.sgate, slotRow(r)))), K.let_('z', get(F.pre, at))];
      if (gelu) {
        const dz = cx.scalar('gelu_grad', [f('z'), f('dh')], lets);
        return [...lets, put(F.dpre, at, dz)];
      }
      // h = silu(z)·up: dup = dh·silu(z); dz = dh·up·(σ + z·σ·(1 − σ))
      const sig = cx.scalar('sigmoid', [f('z')], lets);
      lets.push(K.let_('sg', sig));
      const dsilu = K.add(f('sg'), K.mul(f('z'), K.mul(f('sg'), K.sub(K.f32(1), f('sg')))));
      return [
        ...lets,
        put(F.dup, at, K.mul(f('dh'), K.mul(f('z'), f('sg')))),
        put(F.dpre, at, K.mul(K.mul(f('dh'), get(F.up, at)), dsilu)),
      ];
    },
  });
  const dhidden: Stmt[] = [
    ...tileOf(cx, T.dhidden, l.hb),
    K.wait(sync, K.add(U(C.up), K.add(K.mul(u('e'), U(l.rb)), u('rb'))), U(l.hb)),
    ...filled(cx),
    K.if_(K.gt(u('rows'), U(0)), dhiddenTile),
    K.signal(sync, K.add(U(C.dhE), u('e'))),
    K.signal(sync, U(C.dhAll)),
  ];

  // dw2 [E, H, d] (or w_down): hidden rows i0… of the expert's slots against their do; b2 from the first row block
  const [dw2, db2] = gelu ? [out[4]!, out[5]!] : [out[4]!, undefined];
  const dw2Task: Stmt[] = [
    ...weightTileOf(T.dw2, l.hw, l.wdb),
    K.wait(sync, K.add(U(C.upE), u('e')), U(l.rb * l.hb)),
    ...weightTile(cx, {
      rows: l.h,
      cols: l.d,
      a: (_s, row, i) => get(F.hidden, K.add(K.mul(row, U(l.hs)), i)),
      b: [(s, _row, j) => K.mul(get(F.sgate, s), dyAt(idx(get(F.token, s)), j))],
      into: [(i, j) => K.add(U(dw2), K.add(K.mul(K.add(K.mul(u('e'), U(l.h)), i), U(l.d)), j))],
      bias: db2 === undefined ? undefined : [(j) => K.add(U(db2), K.add(K.mul(u('e'), U(l.d)), j))],
    }),
  ];

  // dw1 [E, d, H] (or w_gate and w_up): x rows of the expert's tokens against dpre (and dup); b1 likewise
  const [dw1, db1] = gelu ? [out[2]!, out[3]!] : [out[2]!, undefined];
  const dw1Task: Stmt[] = [
    ...weightTileOf(T.dw1, l.dw, l.whb),
    K.wait(sync, K.add(U(C.dhE), u('e')), U(l.rb * l.hb)),
    ...weightTile(cx, {
      rows: l.d,
      cols: l.h,
      a: (s, _row, i) => K.load(cx.x, K.add(K.mul(idx(get(F.token, s)), U(l.d)), i)),
      b: gelu
        ? [(_s, row, j) => get(F.dpre, K.add(K.mul(row, U(l.hs)), j))]
        : [
            (_s, row, j) => get(F.dpre, K.add(K.mul(row, U(l.hs)), j)),
            (_s, row, j) => get(F.dup, K.add(K.mul(row, U(l.hs)), j)),
          ],
      into: (gelu ? [dw1] : [dw1, out[3]!]).map(
        (base) => (i: Expr, j: Expr) => K.add(U(base), K.add(K.mul(K.add(K.mul(u('e'), U(l.d)), i), U(l.h)), j)),
      ),
      bias: db1 === undefined ? undefined : [(j) => K.add(U(db1), K.add(K.mul(u('e'), U(l.h)), j))],
    }),
  ];

  // dx: Σ over a token's kept choices of dpre·w1ᵀ (and dup·w_upᵀ), plus dlogits·routerᵀ
  const dx: Stmt[] = [
    K.let_('g', K.sub(u('task'), U(T.dx))),
    K.wait(sync, U(C.dhAll), U(l.e * l.rb * l.hb)),
    K.wait(sync, U(C.dgated), U(l.g)),
    tokensOf(
      cx,
      u('g'),
      [
        cx.lanesOver('i', U(l.d), [
          K.var_('acc', K.f32(0)),
          K.loop('r', U(0), U(l.k), [
            K.let_('sl', idx(get(F.slot, choice(u('r'))))),
            K.if_(K.lt(u('sl'), U(l.s)), [
              K.let_('e', idx(get(F.choice, choice(u('r'))))),
              K.let_('row', cx.rowOfSlot(u('sl'))),
              K.loop('j', U(0), U(l.h), [
                K.let_('wi', K.add(K.mul(K.add(K.mul(u('e'), U(l.d)), u('i')), U(l.h)), u('j'))),
                K.set('acc', K.mul(get(F.dpre, K.add(K.mul(u('row'), U(l.hs)), u('j'))), K.load(w[0]!, u('wi'))), '+'),
                ...(gelu
                  ? []
                  : [
                      K.set(
                        'acc',
                        K.mul(get(F.dup, K.add(K.mul(u('row'), U(l.hs)), u('j'))), K.load(w[1]!, u('wi'))),
                        '+',
                      ),
                    ]),
              ]),
            ]),
          ]),
          K.loop('j', U(0), U(l.e), [
            K.set(
              'acc',
              K.mul(
                get(F.dlog, K.add(K.mul(u('t'), U(l.e)), u('j'))),
                K.load(cx.router, K.add(K.mul(u('i'), U(l.e)), u('j'))),
              ),
              '+',
            ),
          ]),
          K.store(res, K.add(U(out[0]!), K.add(K.mul(u('t'), U(l.d)), u('i'))), f('acc')),
        ]),
      ],
      false,
    ),
  ];

  // drouter [d, E]: rows i0… of x against dlogits, over every token
  const drouter: Stmt[] = [
    K.let_('i0', K.mul(K.sub(u('task'), U(T.drouter)), U(WROWS))),
    K.wait(sync, U(C.dgated), U(l.g)),
    K.loop('r', U(0), U(WROWS), [
      K.let_('i', K.add(u('i0'), u('r'))),
      K.if_(K.lt(u('i'), U(l.d)), [
        cx.lanesOver('j', U(l.e), [
          K.var_('acc', K.f32(0)),
          K.loop('t', U(0), U(l.t), [
            K.set(
              'acc',
              K.mul(
                K.load(cx.x, K.add(K.mul(u('t'), U(l.d)), u('i'))),
                get(F.dlog, K.add(K.mul(u('t'), U(l.e)), u('j'))),
              ),
              '+',
            ),
          ]),
          K.store(res, K.add(U(out[1]!), K.add(K.mul(u('i'), U(l.e)), u('j'))), f('acc')),
        ]),
      ]),
    ]),
  ];

  return workers(cx, [
    [T.gate, gateTask(cx, true)],
    [T.route, routeTask(cx, true)],
    [T.place, placeTask(cx)],
    [T.up, upTask(cx, true)],
    [T.down, downTask(cx)],
    [T.dgate, dgate],
    [T.dhidden, dhidden],
    [T.dw2, dw2Task],
    [T.dw1, dw1Task],
    [T.dx, dx],
    [T.drouter, drouter],
  ]);
}

/** The expert, row block (i0) and column block (j0) of a weight-gradient task. */
function weightTileOf(first: number, rowBlocks: number, colBlocks: number): Stmt[] {
  return [
    K.let_('q', K.sub(u('task'), U(first))),
    K.let_('e', K.div(u('q'), U(rowBlocks * colBlocks))),
    K.let_('i0', K.mul(K.mod(K.div(u('q'), U(colBlocks)), U(rowBlocks)), U(WROWS))),
    K.let_('j0', K.mul(K.mod(u('q'), U(colBlocks)), U(COLS))),
  ];
}

/**
 * A tile of a weight's gradient, rows i0… (WROWS) and columns j0… (COLS), summed over the expert's filled slots s:
 * Σ_s a(s, i)·b(s, j) for each b (SwiGLU's two weights at once); with `bias`, the first row block also sums b(s, j).
 * Each lane keeps WROWS × COLS/lanes sums per b.
 */
function weightTile(
  cx: MoeContext,
  t: {
    rows: number;
    cols: number;
    a: (s: Expr, row: Expr, i: Expr) => Expr;
    b: ((s: Expr, row: Expr, j: Expr) => Expr)[];
    into: ((i: Expr, j: Expr) => Expr)[];
    bias?: ((j: Expr) => Expr)[] | undefined;
  },
): Stmt[] {
  const per = COLS / cx.lanes;
  const col = (m: Expr) => K.add(u('j0'), K.add(cx.me, K.mul(m, U(cx.lanes))));
  const clamped = (m: Expr) => (t.cols % COLS ? K.min(col(m), U(t.cols - 1)) : col(m));
  const at = (r: Expr, m: Expr) => K.add(K.mul(r, U(per)), m);
  const accs = t.b.map((_, q) => `acc${q}`);
  const slot = K.add(K.mul(u('e'), U(cx.l.c)), u('c'));
  const row = K.add(u('base'), u('c'));
  const bias = t.bias;
  return [
    K.let_('n', idx(cx.get(cx.l.floats.count, u('e')))),
    K.let_('base', idx(cx.get(cx.l.floats.offset, u('e')))),
    ...accs.map((acc) => K.array(acc, 'f32', WROWS * per)),
    ...(bias ? [K.array('bsum', 'f32', per)] : []),
    ...t.b.map((_, q) => K.array(`bq${q}`, 'f32', per)),
    K.loop('c', U(0), u('n'), [
      K.loop('m', U(0), U(per), [
        ...t.b.map((b, q) => K.setAt(`bq${q}`, u('m'), b(slot, row, clamped(u('m'))))),
        ...(bias ? [K.setAt('bsum', u('m'), K.load('bq0', u('m'), 'f32'), '+')] : []),
      ]),
      // one column per lane: the rows unrolled (sums in registers); else the lane's columns innermost (vectorised)
      ...(per === 1
        ? Array.from({ length: WROWS }, (_, r) => [
            K.let_(`av${r}`, t.a(slot, row, K.min(K.add(u('i0'), U(r)), U(t.rows - 1)))),
            ...accs.map((acc, q) => K.setAt(acc, U(r), K.mul(f(`av${r}`), K.load(`bq${q}`, U(0), 'f32')), '+')),
          ]).flat()
        : [
            K.loop('r', U(0), U(WROWS), [
              K.let_('av', t.a(slot, row, K.min(K.add(u('i0'), u('r')), U(t.rows - 1)))),
              K.loop(
                'm',
                U(0),
                U(per),
                accs.map((acc, q) =>
                  K.setAt(acc, at(u('r'), u('m')), K.mul(f('av'), K.load(`bq${q}`, u('m'), 'f32')), '+'),
                ),
              ),
            ]),
          ]),
    ]),
    K.loop('m', U(0), U(per), [
      K.if_(K.lt(col(u('m')), U(t.cols)), [
        K.loop('r', U(0), U(WROWS), [
          K.if_(
            K.lt(K.add(u('i0'), u('r')), U(t.rows)),
            accs.map((acc, q) =>
              K.store(res, t.into[q]!(K.add(u('i0'), u('r')), col(u('m'))), K.load(acc, at(u('r'), u('m')), 'f32')),
            ),
          ),
        ]),
        ...(bias
          ? [K.if_(K.eq(u('i0'), U(0)), [K.store(res, bias[0]!(col(u('m'))), K.load('bsum', u('m'), 'f32'))])]
          : []),
      ]),
    ]),
  ];
}
