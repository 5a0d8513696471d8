import type { Value } from '../../ir/graph.ts';
import { SCALAR_OPS } from '../../ir/ops/elementwise.ts';
import { EXPERT_WEIGHTS, type ExpertAct, moeSizes } from '../../ir/ops/moe-layer.ts';
import { bool } from '../../ir/ops/util.ts';
import * as K from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import { type DeviceClass, type KernelBody, operand, res } from './common.ts';

/**
 * A whole MoE layer as one persistent kernel (FlashDMoE's design, for every target): workgroups are workers that
 * take tasks from a queue, a counter in the workspace, in the order of their index; a task waits only for counters
 * that tasks of lower index raise. The tasks, in that order:
 *
 *   gate    (per TOKENS tokens)          router logits, softmax, top-k, gates
 *   route   (per expert)                 the expert's slots in routing order (dropping past its capacity C)
 *   up      (per expert, ROWS slots, COLS hidden columns)   act(x·w1 + b1), or silu(x·w_gate) ⊙ x·w_up
 *   down    (per expert, ROWS slots, COLS output columns)   hidden·w2 + b2, or hidden·w_down
 *   combine (per TOKENS tokens)          Σ over a token's kept choices of gate · its expert's row
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

const TOKENS = 16;
const ROWS = 4;
const COLS = 64;

/** The workspace's layout: f32 offsets, counter indices, and the tasks. */
export function moeLayout(v: Value) {
  const { t, d, e, h, k, c } = moeSizes(v);
  const s = e * c;
  const at = { choice: 0, gate: t * k, slot: 2 * t * k, token: 3 * t * k, count: 3 * t * k + s };
  const hidden = at.count + e;
  const out = hidden + s * h;
  const rb = Math.ceil(c / ROWS);
  const [hb, db] = [Math.ceil(h / COLS), Math.ceil(d / COLS)];
  const g = Math.ceil(t / TOKENS);
  const tasks = { gate: 0, route: g, up: g + e, down: g + e + e * rb * hb, combine: g + e + e * rb * (hb + db) };
  const counters = { next: 0, gated: 1, routed: 2, up: 2 + e, down: 2 + e + e * rb };
  return {
    ...{ t, d, e, h, k, c, s, rb, hb, db, g },
    floats: { ...at, hidden, out, size: out + s * d },
    counters: { ...counters, size: counters.down + 1 },
    tasks: { ...tasks, all: tasks.combine + g },
  };
}

/** The fused kernel's workspace: f32 words and i32 counters (zeroed before each launch). */
export function moeWorkspace(v: Value): { floats: number; counters: number } {
  const l = moeLayout(v);
  return { floats: l.floats.size, counters: l.counters.size };
}

/** Whether the fused kernel runs this layer: its indices fit the f32 workspace exactly and its logits a local array. */
export const fusable = (v: Value): boolean => {
  const l = moeLayout(v);
  return l.t * l.k < 2 ** 24 && l.s < 2 ** 24 && l.e <= 256;
};

const u = (name: string) => K.ref(name);
const f = (name: string) => K.ref(name, 'f32');
const U = K.u32;
const idx = (x: Expr) => K.cast('u32', x);
const real = (x: Expr) => K.cast('f32', x);

export function fusedMoe(v: Value, cls: DeviceClass): KernelBody {
  const l = moeLayout(v);
  const act = v.attrs['act'] as ExpertAct;
  const n = EXPERT_WEIGHTS[act];
  const [x, router] = [operand(v, 0), operand(v, 1)];
  const w = Array.from({ length: n }, (_, j) => operand(v, 2 + j));
  const [ws, sync] = [operand(v, 2 + n), operand(v, 3 + n)];
  const lanes = cls === 'gpu' ? 64 : 1;
  const me = lanes === 1 ? U(0) : K.lid;
  const per = COLS / lanes;
  const wsAt = (region: number, i: Expr) => K.add(U(region), i);
  const get = (region: number, i: Expr) => K.load(ws, wsAt(region, i));
  const put = (region: number, i: Expr, value: Expr) => K.store(ws, wsAt(region, i), value);
  const F = l.floats;
  const C = l.counters;
  const T = l.tasks;
  let names = 0;
  /** An elementwise op's scalar function, as its own kernel computes it; its lets go into `into`. */
  const scalar = (op: string, args: Expr[], into: Stmt[]): Expr =>
    SCALAR_OPS[op]!.expr(args, (e) => {
      const name = `b${names++}`;
      into.push(K.let_(name, e));
      return K.ref(name, e.t);
    });
  /** Each token of gate or combine task `g` at lane stride: `body` reads the token `t`. */
  const tokens = (g: Expr, body: Stmt[]): Stmt =>
    K.loop(
      'tt',
      me,
      U(TOKENS),
      [K.let_('t', K.add(K.mul(g, U(TOKENS)), u('tt'))), K.if_(K.lt(u('t'), U(l.t)), body)],
      U(lanes),
    );

  // gate: logits over the experts in a local array, softmax in place, then the k best in (value desc, index asc)
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
  const choice = (r: Expr) => K.add(K.mul(u('t'), U(l.k)), r);
  const gate: Stmt[] = [
    K.let_('g', K.sub(u('task'), U(T.gate))),
    tokens(u('g'), [
      K.array('lg', 'f32', l.e),
      K.loop('j', U(0), U(l.e), [
        K.var_('acc', K.f32(0)),
        K.loop('i', U(0), U(l.d), [
          K.set(
            'acc',
            K.mul(
              K.load(x, K.add(K.mul(u('t'), U(l.d)), u('i'))),
              K.load(router, K.add(K.mul(u('i'), U(l.e)), u('j'))),
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
      K.loop('j', U(0), U(l.e), [K.setAt('lg', u('j'), K.div(logit, f('sum')))]),
      K.var_('pv', K.f32(0)),
      K.var_('pi', K.i32(-1)),
      K.var_('picked', K.f32(0)),
      K.loop('r', U(0), U(l.k), [
        K.var_('bv', K.f32(0)),
        K.var_('bi', K.i32(-1)),
        K.loop('j', U(0), U(l.e), [pick]),
        put(F.choice, choice(u('r')), real(K.ref('bi', 'i32'))),
        put(F.gate, choice(u('r')), f('bv')),
        K.set('picked', f('bv'), '+'),
        K.set('pv', f('bv')),
        K.set('pi', K.ref('bi', 'i32')),
      ]),
      ...(bool(v.attrs, 'renormalize')
        ? [K.loop('r', U(0), U(l.k), [put(F.gate, choice(u('r')), K.div(get(F.gate, choice(u('r'))), f('picked')))])]
        : []),
    ]),
    K.signal(sync, U(C.gated)),
  ];

  // route: one lane walks the choices in routing order (first choices, then second, …; tokens in order)
  const walk: Stmt[] = [
    K.var_('p', U(0)),
    K.loop('r', U(0), U(l.k), [
      K.loop('t', U(0), U(l.t), [
        K.let_('at', choice(u('r'))),
        K.if_(K.eq(idx(get(F.choice, u('at'))), u('e')), [
          K.if_(
            K.lt(u('p'), U(l.c)),
            [
              K.let_('sl', K.add(K.mul(u('e'), U(l.c)), u('p'))),
              put(F.slot, u('at'), real(u('sl'))),
              put(F.token, u('sl'), real(u('t'))),
              K.set('p', K.add(u('p'), U(1))),
            ],
            [put(F.slot, u('at'), real(U(l.s)))],
          ),
        ]),
      ]),
    ]),
    K.loop('j', u('p'), U(l.c), [put(F.token, K.add(K.mul(u('e'), U(l.c)), u('j')), real(U(l.t)))]),
    put(F.count, u('e'), real(u('p'))),
  ];
  const route: Stmt[] = [
    K.let_('e', K.sub(u('task'), U(T.route))),
    K.wait(sync, U(C.gated), U(l.g)),
    ...(lanes === 1 ? walk : [K.if_(K.eq(me, U(0)), walk)]),
    K.signal(sync, K.add(U(C.routed), u('e'))),
  ];

  /**
   * A tile of ROWS filled slots of expert e from row r0, and COLS columns from j0 of a product with `inner` terms:
   * each lane keeps ROWS × COLS/lanes sums (`acc`, and `acc2` for SwiGLU's second product). `row(r)` is the
   * flat index of row r's first term, `weight(i, j)` the weight's.
   */
  const tile = (
    cols: number,
    inner: number,
    row: (r: Expr) => Expr,
    a: (i: Expr) => Expr,
    weights: string[],
    weight: (i: Expr, j: Expr) => Expr,
    finish: (sums: Expr[], j: Expr) => [Expr, Stmt[]],
    into: (r: Expr, j: Expr) => Expr,
    region: number,
  ): Stmt[] => {
    const accs = weights.map((_, m) => `acc${m}`);
    const col = (m: Expr) => K.add(u('j0'), K.add(me, K.mul(m, U(lanes))));
    const clamped = (m: Expr) => K.min(col(m), U(cols - 1));
    const sums = (m: Expr) => accs.map((acc) => K.load(acc, K.add(K.mul(u('r'), U(per)), m), 'f32'));
    const done: Stmt[] = [];
    const [value, lets] = finish(sums(u('m')), col(u('m')));
    done.push(...lets);
    return [
      ...accs.map((acc) => K.array(acc, 'f32', ROWS * per)),
      K.array('rowAt', 'u32', ROWS),
      K.loop('r', U(0), U(ROWS), [K.setAt('rowAt', u('r'), row(K.min(u('r'), K.sub(u('rows'), U(1)))))]),
      K.loop('i', U(0), U(inner), [
        K.loop('r', U(0), U(ROWS), [
          K.let_('xv', a(K.add(K.load('rowAt', u('r'), 'u32'), u('i')))),
          K.loop('m', U(0), U(per), [
            ...weights.map((wb, q) =>
              K.setAt(
                accs[q]!,
                K.add(K.mul(u('r'), U(per)), u('m')),
                K.mul(f('xv'), K.load(wb, weight(u('i'), clamped(u('m'))))),
                '+',
              ),
            ),
          ]),
        ]),
      ]),
      K.loop('r', U(0), u('rows'), [
        K.loop('m', U(0), U(per), [
          K.if_(K.lt(col(u('m')), U(cols)), [...done, K.store(ws, K.add(U(region), into(u('r'), col(u('m')))), value)]),
        ]),
      ]),
    ];
  };
  /** The expert, row block and column block of an up or down task, and its filled rows. */
  const block = (first: number, blocks: number): Stmt[] => [
    K.let_('q', K.sub(u('task'), U(first))),
    K.let_('e', K.div(u('q'), U(l.rb * blocks))),
    K.let_('rb', K.mod(K.div(u('q'), U(blocks)), U(l.rb))),
    K.let_('j0', K.mul(K.mod(u('q'), U(blocks)), U(COLS))),
  ];
  const filled: Stmt[] = [
    K.let_('n', idx(get(F.count, u('e')))),
    K.let_('r0', K.mul(u('rb'), U(ROWS))),
    K.let_('rows', K.select(K.lt(u('r0'), u('n')), K.min(U(ROWS), K.sub(u('n'), u('r0'))), U(0))),
  ];
  const slotRow = (r: Expr) => K.add(K.mul(u('e'), U(l.c)), K.add(u('r0'), r));
  const upTile = tile(
    l.h,
    l.d,
    (r) => K.mul(idx(get(F.token, slotRow(r))), U(l.d)),
    (i) => K.load(x, i),
    act === 'gelu' ? [w[0]!] : [w[0]!, w[1]!],
    (i, j) => K.add(K.mul(K.add(K.mul(u('e'), U(l.d)), i), U(l.h)), j),
    ([s0, s1], j) => {
      const lets: Stmt[] = [];
      if (act === 'gelu') {
        lets.push(K.let_('pre', K.add(s0!, K.load(w[1]!, K.add(K.mul(u('e'), U(l.h)), j)))));
        return [scalar('gelu', [f('pre')], lets), lets];
      }
      const silu = K.mul(s0!, scalar('sigmoid', [s0!], lets));
      return [K.mul(silu, s1!), lets];
    },
    (r, j) => K.add(K.mul(slotRow(r), U(l.h)), j),
    F.hidden,
  );
  const up: Stmt[] = [
    ...block(T.up, l.hb),
    K.wait(sync, K.add(U(C.routed), u('e')), U(1)),
    ...filled,
    K.if_(K.gt(u('rows'), U(0)), upTile),
    K.signal(sync, K.add(U(C.up), K.add(K.mul(u('e'), U(l.rb)), u('rb')))),
  ];
  const [w2, b2] = act === 'gelu' ? [w[2]!, w[3]!] : [w[2]!, undefined];
  const downTile = tile(
    l.d,
    l.h,
    (r) => K.add(U(F.hidden), K.mul(slotRow(r), U(l.h))),
    (i) => K.load(ws, i),
    [w2],
    (i, j) => K.add(K.mul(K.add(K.mul(u('e'), U(l.h)), i), U(l.d)), j),
    ([s0], j) => [b2 ? K.add(s0!, K.load(b2, K.add(K.mul(u('e'), U(l.d)), j))) : s0!, []],
    (r, j) => K.add(K.mul(slotRow(r), U(l.d)), j),
    F.out,
  );
  const down: Stmt[] = [
    ...block(T.down, l.db),
    K.wait(sync, K.add(U(C.up), K.add(K.mul(u('e'), U(l.rb)), u('rb'))), U(l.hb)),
    ...filled,
    K.if_(K.gt(u('rows'), U(0)), downTile),
    K.signal(sync, U(C.down)),
  ];

  // combine: a token's kept choices in order r = 0…k-1, as the unfused sum over them
  const combine: Stmt[] = [
    K.let_('g', K.sub(u('task'), U(T.combine))),
    K.wait(sync, U(C.down), U(l.e * l.rb * l.db)),
    K.loop('tt', U(0), U(TOKENS), [
      K.let_('t', K.add(K.mul(u('g'), U(TOKENS)), u('tt'))),
      K.if_(K.lt(u('t'), U(l.t)), [
        K.loop(
          'j',
          me,
          U(l.d),
          [
            K.var_('y', K.f32(0)),
            K.loop('r', U(0), U(l.k), [
              K.let_('sl', idx(get(F.slot, choice(u('r'))))),
              K.let_(
                'kept',
                K.select(
                  K.lt(u('sl'), U(l.s)),
                  get(F.out, K.add(K.mul(K.min(u('sl'), U(l.s - 1)), U(l.d)), u('j'))),
                  K.f32(0),
                ),
              ),
              K.set('y', K.mul(f('kept'), get(F.gate, choice(u('r')))), '+'),
            ]),
            K.store(res, K.add(K.mul(u('t'), U(l.d)), u('j')), f('y')),
          ],
          U(lanes),
        ),
      ]),
    ]),
  ];

  const byTask = [
    [T.route, gate],
    [T.up, route],
    [T.down, up],
    [T.combine, down],
  ] as const;
  const dispatchTask = byTask.reduceRight<Stmt[]>(
    (otherwise, [below, body]) => [K.if_(K.lt(u('task'), U(below)), [...body], otherwise)],
    combine,
  );
  const workers = Math.min(T.all, lanes === 1 ? 64 : 256);
  return {
    workgroup: [lanes, 1, 1],
    dispatch: [workers, 1, 1],
    body: [
      K.loop('it', U(0), U(T.all), [
        K.claim(sync, U(C.next), 'task'),
        K.if_(K.ge(u('task'), U(T.all)), [K.brk]),
        ...dispatchTask,
      ]),
    ],
    buffers: { [ws]: { coherent: true }, [sync]: { atomic: true, t: 'u32' } },
  };
}
