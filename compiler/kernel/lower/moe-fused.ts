import type { Value } from '../../ir/graph.ts';
import { SCALAR_OPS } from '../../ir/ops/elementwise.ts';
import { BALANCE_WORDS, balanceOf, EXPERT_WEIGHTS, type ExpertAct, moeSizes } from '../../ir/ops/moe-layer.ts';
import { bool } from '../../ir/ops/util.ts';
import * as K from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import { type DeviceClass, type KernelBody, operand, res } from './common.ts';

/**
 * A whole MoE layer as one persistent kernel per direction (FlashDMoE's design, for every target): workgroups are
 * workers that take tasks from a queue, a counter in the workspace, in the order of their index; a task waits only for
 * counters that tasks of lower index raise. The forward kernel's tasks, in that order:
 *
 *   gate    (per TOKENS tokens)          router logits, softmax, top-k, gates
 *   route   (per expert)                 the expert's slots in routing order (dropping past its capacity C)
 *   place   (one)                        each expert's first row among the packed rows (MegaBlocks: no padding rows)
 *   balance (one, with a balance loss)   E/(T·k) · Σ_e (choices naming e) · (e's mean probability), weighted
 *   up      (per expert, ROWS slots, COLS hidden columns)   act(x·w1 + b1), or silu(x·w_gate) ⊙ x·w_up
 *   down    (per expert, ROWS slots, COLS output columns)   hidden·w2 + b2, or hidden·w_down
 *   combine (per TOKENS tokens)          Σ over a token's kept choices of gate · its expert's row
 *
 * The backward kernel (moe-fused-grad.ts) runs the same first four (keeping what its gradients read), then its own.
 *
 * Why it cannot deadlock, with no guarantee that workgroups run side by side (WebGPU gives none): a worker waits
 * only inside a task it has claimed, and only for tasks of lower index, which were claimed before it — each by a
 * worker that was running when it claimed it and is still running, since it has not finished. Of the tasks claimed
 * and not finished, the lowest waits for nothing unfinished, so its worker makes progress, and by induction every
 * task finishes. No worker ever waits for a task no one has claimed, so it does not matter how many workgroups the
 * device runs at once, or in which order it starts them: one running alone takes every task in order.
 *
 * Slots past an expert's count are skipped (no work for capacity padding). Indices are kept in the f32 workspace
 * (exact below 2^24; the pass fuses only layers within that).
 */

export const TOKENS = 16;
export const ROWS = 4;
export const COLS = 64;
/** Rows of a weight gradient's tile (its sums run over an expert's slots). */
export const WROWS = 16;

/** Consecutive ranges of the given sizes, by name: [start, size]. */
function ranges<N extends string>(sizes: [N, number][]): Record<N, number> & { size: number } {
  const out = {} as Record<N, number> & { size: number };
  let at = 0;
  for (const [name, n] of sizes) {
    (out as Record<string, number>)[name] = at;
    at += n;
  }
  out.size = at;
  return out;
}

type FloatRegion =
  | 'chosen'
  | 'choice'
  | 'gate'
  | 'slot'
  | 'token'
  | 'count'
  | 'offset'
  | 'hidden'
  | 'out'
  | 'raw'
  | 'probs'
  | 'sgate'
  | 'pre'
  | 'up'
  | 'dlog'
  | 'dpre'
  | 'dup';
type Task =
  | 'gate'
  | 'route'
  | 'place'
  | 'balance'
  | 'up'
  | 'down'
  | 'combine'
  | 'dgate'
  | 'dhidden'
  | 'dw2'
  | 'dw1'
  | 'dx'
  | 'drouter';

/** The workspace's layout (f32 offsets, counter indices) and the tasks, forward or backward (regions and tasks of the
 * other direction are absent: their offsets are undefined). */
export function moeLayout(v: Value, backward = false, cols = COLS, taskRows = ROWS) {
  const { t, d, e, h, k, c } = moeSizes(v);
  const swiglu = v.attrs['act'] === 'swiglu';
  const balance = balanceOf(v.attrs) > 0;
  const s = e * c;
  // the experts' rows are packed, each expert's from its offset (MegaBlocks): as many as can be kept, not E·C
  const rows = Math.min(s, t * k);
  // a packed row is padded by a cache line: rows 2^n floats apart would all fall in the same sets of a CPU's caches
  const [hs, ds] = [h + 16, d + 16];
  const rb = Math.ceil(c / taskRows);
  const [hb, db] = [Math.ceil(h / cols), Math.ceil(d / cols)];
  const [whb, wdb] = [Math.ceil(h / COLS), Math.ceil(d / COLS)];
  const [hw, dw] = [Math.ceil(h / WROWS), Math.ceil(d / WROWS)];
  const g = Math.ceil(t / TOKENS);
  const floats = ranges<FloatRegion>([
    ['choice', t * k],
    ['gate', t * k],
    ['slot', t * k],
    ['token', s],
    ['count', e],
    ['offset', e],
    ['hidden', rows * hs],
    ['out', rows * ds],
    // with a balance loss: how many choices name each expert (kept or not), and the forward's probabilities
    ['chosen', balance ? e : 0],
    ...((backward
      ? [
          ['raw', t * k],
          ['probs', t * e],
          ['sgate', s],
          ['pre', rows * hs],
          ['up', swiglu ? rows * hs : 0],
          ['dlog', t * e],
          ['dpre', rows * hs],
          ['dup', swiglu ? rows * hs : 0],
        ]
      : [['probs', balance ? t * e : 0]]) as [FloatRegion, number][]),
  ]);
  const tasks = ranges<Task>([
    ['gate', g],
    ['route', e],
    ['place', 1],
    ['balance', balance && !backward ? 1 : 0],
    ['up', e * rb * hb],
    ['down', e * rb * db],
    ...((backward
      ? [
          ['dgate', g],
          ['dhidden', e * rb * hb],
          ['dw2', e * hw * wdb],
          ['dw1', e * dw * whb],
          ['dx', g],
          ['drouter', dw],
        ]
      : [['combine', g]]) as [Task, number][]),
  ]);
  const counters = ranges([
    ['next', 1],
    ['gated', 1],
    ['routed', e],
    ['placed', 1],
    ['up', e * rb],
    ['upE', e],
    ['down', 1],
    ['dgated', 1],
    ['dhE', e],
    ['dhAll', 1],
  ]);
  return {
    t,
    d,
    e,
    h,
    k,
    c,
    s,
    rows,
    hs,
    ds,
    rb,
    hb,
    db,
    whb,
    wdb,
    hw,
    dw,
    g,
    cols,
    taskRows,
    swiglu,
    balance,
    floats,
    tasks,
    counters,
  };
}
export type MoeLayout = ReturnType<typeof moeLayout>;

/** The fused kernels' workspace: f32 words and i32 counters (zeroed before each launch). */
export function moeWorkspace(v: Value, backward = false): { floats: number; counters: number } {
  const l = moeLayout(v, backward);
  return { floats: l.floats.size, counters: l.counters.size };
}

/** Whether the fused kernels run this layer: its indices fit the f32 workspace exactly and its logits a local array. */
export const fusable = (v: Value): boolean => {
  // with expert parallelism the layer's tokens leave the rank between its routing and its experts
  if (v.attrs['expert_ranks'] !== undefined) return false;
  const l = moeLayout(v, true);
  return l.t * l.k < 2 ** 24 && l.s < 2 ** 24 && l.e <= 256;
};

export const u = (name: string) => K.ref(name);
export const f = (name: string) => K.ref(name, 'f32');
export const U = K.u32;
export const idx = (x: Expr) => K.cast('u32', x);
export const real = (x: Expr) => K.cast('f32', x);

/**
 * What the tasks of both kernels share: the operands' buffers, the workspace's regions, the lanes of a worker (a
 * workgroup of 64 where the target runs workgroups together; else one invocation, a worker of its own in C).
 */
export function moeContext(v: Value, cooperative: boolean, backward: boolean) {
  const lanes = cooperative ? 64 : 1;
  // a lane keeps a ROWS × 4 block of sums in registers (64 lanes: 256 columns); a C worker a ROWS × 16 one, which
  // the compiler vectorises, over 64 rows a task (the weights' 16 columns stay in its cache); the workspace's counters
  // are enough for either (the pass sizes them for ROWS rows a task)
  const l = moeLayout(v, backward, cooperative ? 4 * lanes : 16, cooperative ? ROWS : 64);
  const act = v.attrs['act'] as ExpertAct;
  const n = EXPERT_WEIGHTS[act];
  const w = Array.from({ length: n }, (_, j) => operand(v, 2 + j));
  const ws = operand(v, v.inputs.length - 2);
  const sync = operand(v, v.inputs.length - 1);
  let names = 0;
  const cx = {
    l,
    act,
    x: operand(v, 0),
    router: operand(v, 1),
    w,
    ws,
    sync,
    lanes,
    me: lanes === 1 ? U(0) : K.lid,
    renormalize: bool(v.attrs, 'renormalize'),
    /** The balance loss's weight (0: none). */
    balance: balanceOf(v.attrs),
    get: (region: number, i: Expr) => K.load(ws, K.add(U(region), i)),
    put: (region: number, i: Expr, value: Expr) => K.store(ws, K.add(U(region), i), value),
    /** An elementwise op's scalar function, as its own kernel computes it; its lets go into `into`. */
    scalar: (op: string, args: Expr[], into: Stmt[]): Expr =>
      SCALAR_OPS[op]!.expr(args, (e) => {
        const name = `b${names++}`;
        into.push(K.let_(name, e));
        return K.ref(name, e.t);
      }),
    /** `body` for each index from `from` below `to` this lane takes (lanes take every lanes-th). */
    lanesOver: (name: string, to: Expr, body: Stmt[]): Stmt => K.loop(name, cx.me, to, body, U(lanes)),
    /** A token's choice r: its index in the [T, k] arrays. */
    choice: (r: Expr) => K.add(K.mul(u('t'), U(l.k)), r),
    /** The flat slot of row r of the current row block of expert e (routing's numbering: e·C + position). */
    slotRow: (r: Expr) => K.add(K.mul(u('e'), U(l.c)), K.add(u('r0'), r)),
    /** Its row in the packed rows of hidden and output values: the expert's offset (`base`) + position. */
    packedRow: (r: Expr) => K.add(u('base'), K.add(u('r0'), r)),
    /** The packed row of a slot `sl` < E·C. */
    rowOfSlot: (sl: Expr) => K.add(idx(K.load(ws, K.add(U(l.floats.offset), K.div(sl, U(l.c))))), K.mod(sl, U(l.c))),
  };
  return cx;
}
export type MoeContext = ReturnType<typeof moeContext>;

/** Each token of gate, combine or other per-token task `g`: `body` reads the token `t`. */
export function tokensOf(cx: MoeContext, g: Expr, body: Stmt[], lanes = true): Stmt {
  const each = [K.let_('t', K.add(K.mul(g, U(TOKENS)), u('tt'))), K.if_(K.lt(u('t'), U(cx.l.t)), body)];
  return lanes ? cx.lanesOver('tt', U(TOKENS), each) : K.loop('tt', U(0), U(TOKENS), each);
}

/**
 * Gate: each token's logits in a local array, softmax in place, the k best in (value desc, index asc), gates; `keep`
 * keeps the probabilities and raw gates (the backward's), `probs` the probabilities alone (a balance loss's).
 */
export function gateTask(cx: MoeContext, keep: boolean, probs = keep): Stmt[] {
  const { l, put, get, choice } = cx;
  const F = l.floats;
  const logit = K.load('lg', u('j'), 'f32');
  const pick = K.if_(
    K.and(
      K.or(
        K.lt(K.ref('pi', 'i32'), K.i32(0)),
        K.or(K.lt(logit, f('pv')), K.and(K.eq(logit, f('pv')), K.gt(K.cast('i32', u('j')), K.ref('pi', 'i32')))),
      ),
      K.or(K.lt(K.ref('bi', 'i32'), K.i32(0)), K.gt(logit, f('bv'))),
    ),
    [K.set('bv', logit), K.set('bi', K.cast('i32', u('j')))],
  );
  const row = (i: Expr) => K.add(K.mul(u('t'), U(l.e)), i);
  return [
    K.let_('g', K.sub(u('task'), U(l.tasks.gate))),
    tokensOf(cx, u('g'), [
      K.array('lg', 'f32', l.e),
      K.loop('j', U(0), U(l.e), [
        K.var_('acc', K.f32(0)),
        K.loop('i', U(0), U(l.d), [
          K.set(
            'acc',
            K.mul(
              K.load(cx.x, K.add(K.mul(u('t'), U(l.d)), u('i'))),
              K.load(cx.router, K.add(K.mul(u('i'), U(l.e)), u('j'))),
            ),
            '+',
          ),
        ]),
        K.setAt('lg', u('j'), f('acc')),
      ]),
      K.var_('mx', K.load('lg', U(0), 'f32')),
      K.loop('j', U(1), U(l.e), [K.set('mx', K.max(f('mx'), logit))]),
      K.var_('sum', K.f32(0)),
      K.loop('j', U(0), U(l.e), [
        K.setAt('lg', u('j'), K.call('exp', K.sub(logit, f('mx')))),
        K.set('sum', logit, '+'),
      ]),
      K.loop('j', U(0), U(l.e), [
        K.setAt('lg', u('j'), K.div(logit, f('sum'))),
        ...(probs ? [put(F.probs, row(u('j')), logit)] : []),
      ]),
      K.var_('pv', K.f32(0)),
      K.var_('pi', K.i32(-1)),
      K.var_('picked', K.f32(0)),
      K.loop('r', U(0), U(l.k), [
        K.var_('bv', K.f32(0)),
        K.var_('bi', K.i32(-1)),
        K.loop('j', U(0), U(l.e), [pick]),
        put(F.choice, choice(u('r')), real(K.ref('bi', 'i32'))),
        put(F.gate, choice(u('r')), f('bv')),
        ...(keep ? [put(F.raw, choice(u('r')), f('bv'))] : []),
        K.set('picked', f('bv'), '+'),
        K.set('pv', f('bv')),
        K.set('pi', K.ref('bi', 'i32')),
      ]),
      ...(cx.renormalize
        ? [K.loop('r', U(0), U(l.k), [put(F.gate, choice(u('r')), K.div(get(F.gate, choice(u('r'))), f('picked')))])]
        : []),
    ]),
    K.signal(cx.sync, U(l.counters.gated)),
  ];
}

/** Route: one lane walks the choices in routing order (first choices, then second, …; tokens in order). */
export function routeTask(cx: MoeContext, keep: boolean): Stmt[] {
  const { l, put, get, choice } = cx;
  const F = l.floats;
  const walk: Stmt[] = [
    K.var_('p', U(0)),
    K.var_('all', U(0)),
    K.loop('r', U(0), U(l.k), [
      K.loop('t', U(0), U(l.t), [
        K.let_('at', choice(u('r'))),
        K.if_(K.eq(idx(get(F.choice, u('at'))), u('e')), [
          K.set('all', K.add(u('all'), U(1))),
          K.if_(
            K.lt(u('p'), U(l.c)),
            [
              K.let_('sl', K.add(K.mul(u('e'), U(l.c)), u('p'))),
              put(F.slot, u('at'), real(u('sl'))),
              put(F.token, u('sl'), real(u('t'))),
              ...(keep ? [put(F.sgate, u('sl'), get(F.gate, u('at')))] : []),
              K.set('p', K.add(u('p'), U(1))),
            ],
            [put(F.slot, u('at'), real(U(l.s)))],
          ),
        ]),
      ]),
    ]),
    K.loop('j', u('p'), U(l.c), [put(F.token, K.add(K.mul(u('e'), U(l.c)), u('j')), real(U(l.t)))]),
    put(F.count, u('e'), real(u('p'))),
    ...(l.balance ? [put(F.chosen, u('e'), real(u('all')))] : []),
  ];
  return [
    K.let_('e', K.sub(u('task'), U(l.tasks.route))),
    K.wait(cx.sync, U(l.counters.gated), U(l.g)),
    ...(cx.lanes === 1 ? walk : [K.if_(K.eq(cx.me, U(0)), walk)]),
    K.signal(cx.sync, K.add(U(l.counters.routed), u('e'))),
  ];
}

/** Place: each expert's first packed row, once every expert is routed (the counts' running sum). */
export function placeTask(cx: MoeContext): Stmt[] {
  const { l, put, get } = cx;
  const F = l.floats;
  const sum: Stmt[] = [
    K.var_('at', K.f32(0)),
    K.loop('e', U(0), U(l.e), [put(F.offset, u('e'), f('at')), K.set('at', get(F.count, u('e')), '+')]),
  ];
  return [
    K.loop('e', U(0), U(l.e), [K.wait(cx.sync, K.add(U(l.counters.routed), u('e')), U(1))]),
    ...(cx.lanes === 1 ? sum : [K.if_(K.eq(cx.me, U(0)), sum)]),
    K.signal(cx.sync, U(l.counters.placed)),
  ];
}

/** The balance loss's scale: E/(T·k), the counts being over T·k choices (as moeBalanceLoss scales them). */
export const balanceScale = (l: MoeLayout) => l.e / (l.t * l.k);

/**
 * Balance: the weighted loss into the result's first element, once every token is gated and every expert routed:
 * Σ_e chosen_e · (Σ_t p_{t,e}) / T, tokens in order, times E/(T·k) and the weight.
 */
export function balanceTask(cx: MoeContext): Stmt[] {
  const { l, get } = cx;
  const F = l.floats;
  const loss: Stmt[] = [
    K.var_('dot', K.f32(0)),
    K.loop('e', U(0), U(l.e), [
      K.var_('col', K.f32(0)),
      K.loop('t', U(0), U(l.t), [K.set('col', get(F.probs, K.add(K.mul(u('t'), U(l.e)), u('e'))), '+')]),
      K.set('dot', K.mul(get(F.chosen, u('e')), K.div(f('col'), K.f32(l.t))), '+'),
    ]),
    K.let_('loss', K.mul(f('dot'), K.f32(balanceScale(l)))),
    K.store(res, U(0), cx.balance === 1 ? f('loss') : K.mul(f('loss'), K.f32(cx.balance))),
    // the words between it and y, so that the whole result is defined
    K.loop('i', U(1), U(BALANCE_WORDS), [K.store(res, u('i'), K.f32(0))]),
  ];
  return [K.wait(cx.sync, U(l.counters.placed), U(1)), ...(cx.lanes === 1 ? loss : [K.if_(K.eq(cx.me, U(0)), loss)])];
}

/**
 * A tile of ROWS filled slots of expert e from row r0 and COLS columns from j0 of a product with `inner` terms: each
 * lane keeps ROWS × COLS/lanes sums, one set per weight (`acc0`, `acc1`). `row(r)` is where row r's terms start in
 * the operand `a` reads, `weight(i, j)` a weight's element; `store` writes a finished element from its sums.
 */
export function tile(
  cx: MoeContext,
  t: {
    cols: number;
    inner: number;
    row: (r: Expr) => Expr;
    a: (i: Expr) => Expr;
    weights: string[];
    weight: (i: Expr, j: Expr) => Expr;
    store: (sums: Expr[], r: Expr, j: Expr) => Stmt[];
  },
): Stmt[] {
  const per = cx.l.cols / cx.lanes;
  const accs = t.weights.map((_, m) => `acc${m}`);
  const col = (m: Expr) => K.add(u('j0'), K.add(cx.me, K.mul(m, U(cx.lanes))));
  // whole tiles read no column past the last; else the clamp keeps the extra lanes' reads in bounds
  const clamped = (m: Expr) => (t.cols % cx.l.cols ? K.min(col(m), U(t.cols - 1)) : col(m));
  const at = (r: Expr, m: Expr) => K.add(K.mul(r, U(per)), m);
  const sums = accs.map((acc) => K.load(acc, at(u('r'), u('m')), 'f32'));
  // a C worker copies the task's columns of each weight into a contiguous panel first: a weight's rows are often 2^n
  // floats apart, so its column slice falls in a few cache sets and would be read from memory again for every group
  const panel = cx.lanes === 1;
  const wAt = (q: number, m: Expr) =>
    panel
      ? K.load(`panel${q}`, K.add(K.mul(u('i'), U(per)), m), 'f32')
      : K.load(t.weights[q]!, t.weight(u('i'), clamped(m)));
  const step = (xv: Expr, r: Expr, m: Expr): Stmt[] =>
    t.weights.map((_, q) => K.setAt(accs[q]!, at(r, m), K.mul(xv, wAt(q, m)), '+'));
  const fill: Stmt[] = panel
    ? [
        ...t.weights.map((_, q) => K.array(`panel${q}`, 'f32', t.inner * per)),
        K.loop('i', U(0), U(t.inner), [
          K.loop(
            'm',
            U(0),
            U(per),
            t.weights.map((wb, q) =>
              K.setAt(`panel${q}`, K.add(K.mul(u('i'), U(per)), u('m')), K.load(wb, t.weight(u('i'), clamped(u('m'))))),
            ),
          ),
        ]),
      ]
    : [];
  // one column per lane (GPU-like workers): the rows unrolled, so the sums stay in registers; else a loop over the
  // lane's columns, which a C compiler vectorises
  const rowsStep: Stmt[] =
    per > 16
      ? [
          K.loop('r', U(0), U(ROWS), [
            K.let_('xv', t.a(K.add(K.load('rowAt', u('r'), 'u32'), u('i')))),
            K.loop('m', U(0), U(per), step(f('xv'), u('r'), u('m'))),
          ]),
        ]
      : Array.from({ length: ROWS }, (_, r) => [
          K.let_(`xv${r}`, t.a(K.add(K.load('rowAt', U(r), 'u32'), u('i')))),
          ...Array.from({ length: per }, (_, m) => step(f(`xv${r}`), U(r), U(m))).flat(),
        ]).flat();
  // the task's rows in groups of ROWS (one group on cooperative workers)
  const inGroup = (r: Expr) => K.add(u('g0'), r);
  return [
    ...fill,
    K.loop('gr', U(0), U(cx.l.taskRows / ROWS), [
      K.let_('g0', K.mul(u('gr'), U(ROWS))),
      K.if_(K.lt(u('g0'), u('rows')), [
        K.let_('grows', K.min(U(ROWS), K.sub(u('rows'), u('g0')))),
        ...accs.map((acc) => K.array(acc, 'f32', ROWS * per)),
        K.array('rowAt', 'u32', ROWS),
        K.loop('r', U(0), U(ROWS), [K.setAt('rowAt', u('r'), t.row(inGroup(K.min(u('r'), K.sub(u('grows'), U(1))))))]),
        K.loop('i', U(0), U(t.inner), rowsStep),
        K.loop('r', U(0), u('grows'), [
          K.loop('m', U(0), U(per), [K.if_(K.lt(col(u('m')), U(t.cols)), t.store(sums, inGroup(u('r')), col(u('m'))))]),
        ]),
      ]),
    ]),
  ];
}

/** The expert, row block and column block of a per-tile task, and the row block's filled rows (`rows`). */
export function tileOf(cx: MoeContext, first: number, blocks: number): Stmt[] {
  const { l } = cx;
  return [
    K.let_('q', K.sub(u('task'), U(first))),
    K.let_('e', K.div(u('q'), U(l.rb * blocks))),
    K.let_('rb', K.mod(K.div(u('q'), U(blocks)), U(l.rb))),
    K.let_('j0', K.mul(K.mod(u('q'), U(blocks)), U(l.cols))),
  ];
}
export const filled = (cx: MoeContext): Stmt[] => [
  K.let_('n', idx(cx.get(cx.l.floats.count, u('e')))),
  K.let_('base', idx(cx.get(cx.l.floats.offset, u('e')))),
  K.let_('r0', K.mul(u('rb'), U(cx.l.taskRows))),
  K.let_('rows', K.select(K.lt(u('r0'), u('n')), K.min(U(cx.l.taskRows), K.sub(u('n'), u('r0'))), U(0))),
];

/** Up: the experts' hidden rows (and, when `keep`, the pre-activation and SwiGLU's up projection). */
export function upTask(cx: MoeContext, keep: boolean): Stmt[] {
  const { l, w, put, slotRow, packedRow } = cx;
  const F = l.floats;
  const gelu = cx.act === 'gelu';
  const body = tile(cx, {
    cols: l.h,
    inner: l.d,
    row: (r) => K.mul(idx(cx.get(F.token, slotRow(r))), U(l.d)),
    a: (i) => K.load(cx.x, i),
    weights: gelu ? [w[0]!] : [w[0]!, w[1]!],
    weight: (i, j) => K.add(K.mul(K.add(K.mul(u('e'), U(l.d)), i), U(l.h)), j),
    store: ([s0, s1], r, j) => {
      const at = K.add(K.mul(packedRow(r), U(l.hs)), j);
      const out: Stmt[] = [];
      if (gelu) {
        out.push(K.let_('pre', K.add(s0!, K.load(w[1]!, K.add(K.mul(u('e'), U(l.h)), j)))));
        const h = cx.scalar('gelu', [f('pre')], out);
        return [...out, put(F.hidden, at, h), ...(keep ? [put(F.pre, at, f('pre'))] : [])];
      }
      const silu = K.mul(s0!, cx.scalar('sigmoid', [s0!], out));
      return [...out, put(F.hidden, at, K.mul(silu, s1!)), ...(keep ? [put(F.pre, at, s0!), put(F.up, at, s1!)] : [])];
    },
  });
  return [
    ...tileOf(cx, l.tasks.up, l.hb),
    K.wait(cx.sync, U(l.counters.placed), U(1)),
    ...filled(cx),
    K.if_(K.gt(u('rows'), U(0)), body),
    K.signal(cx.sync, K.add(U(l.counters.up), K.add(K.mul(u('e'), U(l.rb)), u('rb')))),
    K.signal(cx.sync, K.add(U(l.counters.upE), u('e'))),
  ];
}

/** Down: the experts' output rows. */
export function downTask(cx: MoeContext): Stmt[] {
  const { l, w, put, packedRow } = cx;
  const F = l.floats;
  const [w2, b2] = cx.act === 'gelu' ? [w[2]!, w[3]!] : [w[2]!, undefined];
  const body = tile(cx, {
    cols: l.d,
    inner: l.h,
    row: (r) => K.add(U(F.hidden), K.mul(packedRow(r), U(l.hs))),
    a: (i) => K.load(cx.ws, i),
    weights: [w2],
    weight: (i, j) => K.add(K.mul(K.add(K.mul(u('e'), U(l.h)), i), U(l.d)), j),
    store: ([s0], r, j) => [
      put(
        F.out,
        K.add(K.mul(packedRow(r), U(l.ds)), j),
        b2 ? K.add(s0!, K.load(b2, K.add(K.mul(u('e'), U(l.d)), j))) : s0!,
      ),
    ],
  });
  return [
    ...tileOf(cx, l.tasks.down, l.db),
    K.wait(cx.sync, K.add(U(l.counters.up), K.add(K.mul(u('e'), U(l.rb)), u('rb'))), U(l.hb)),
    ...filled(cx),
    K.if_(K.gt(u('rows'), U(0)), body),
    K.signal(cx.sync, U(l.counters.down)),
  ];
}

/** The worker loop: claim the next task, run the kind its index falls in (`kinds`: each kind's first task, body). */
export function workers(cx: MoeContext, kinds: [number, Stmt[]][]): KernelBody {
  const all = cx.l.tasks.size;
  const [[, first], ...rest] = kinds;
  const byTask = rest.reduce<Stmt[]>(
    (otherwise, [start, body]) => [K.if_(K.ge(u('task'), U(start)), body, otherwise)],
    first!,
  );
  return {
    workgroup: [cx.lanes, 1, 1],
    dispatch: [Math.min(all, cx.lanes === 1 ? 64 : 256), 1, 1],
    body: [
      K.loop('it', U(0), U(all), [
        K.claim(cx.sync, U(cx.l.counters.next), 'task'),
        K.if_(K.ge(u('task'), U(all)), [K.brk]),
        ...byTask,
      ]),
    ],
    buffers: { [cx.ws]: { coherent: true }, [cx.sync]: { atomic: true, t: 'u32' } },
  };
}

/** The forward kernel. */
export function fusedMoe(v: Value, _cls: DeviceClass, cooperative: boolean): KernelBody {
  const cx = moeContext(v, cooperative, false);
  const { l, get, choice } = cx;
  const F = l.floats;
  // combine: a token's kept choices in order r = 0…k-1, as the unfused sum over them
  const combine: Stmt[] = [
    K.let_('g', K.sub(u('task'), U(l.tasks.combine))),
    K.wait(cx.sync, U(l.counters.down), U(l.e * l.rb * l.db)),
    tokensOf(
      cx,
      u('g'),
      [
        cx.lanesOver('j', U(l.d), [
          K.var_('y', K.f32(0)),
          K.loop('r', U(0), U(l.k), [
            K.let_('sl', idx(get(F.slot, choice(u('r'))))),
            K.let_(
              'kept',
              K.select(
                K.lt(u('sl'), U(l.s)),
                get(F.out, K.add(K.mul(cx.rowOfSlot(K.min(u('sl'), U(l.s - 1))), U(l.ds)), u('j'))),
                K.f32(0),
              ),
            ),
            K.set('y', K.mul(f('kept'), get(F.gate, choice(u('r')))), '+'),
          ]),
          K.store(res, K.add(U(l.balance ? BALANCE_WORDS : 0), K.add(K.mul(u('t'), U(l.d)), u('j'))), f('y')),
        ]),
      ],
      false,
    ),
  ];
  return workers(cx, [
    [l.tasks.gate, gateTask(cx, false, l.balance)],
    [l.tasks.route, routeTask(cx, false)],
    [l.tasks.place, placeTask(cx)],
    ...(l.balance ? [[l.tasks.balance, balanceTask(cx)] as [number, Stmt[]]] : []),
    [l.tasks.up, upTask(cx, false)],
    [l.tasks.down, downTask(cx)],
    [l.tasks.combine, combine],
  ]);
}
