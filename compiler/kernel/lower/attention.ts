import type { Value } from '../../ir/graph.ts';
import { type AttentionSizes, attentionGradLayout, attentionSizes } from '../../ir/ops/attention.ts';
import * as K from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import { keepOf, LOW, ofHead, seedStepOf, slopeOf, U, alibiTerm, f, u } from './attention-parts.ts';
import { registerBackward, registerForward } from './attention-registers.ts';
import { type DeviceClass, flat, type KernelBody, type Lowering, operand, res, WG } from './common.ts';

/**
 * Fused attention's kernels, written once for every target: invocations that own query rows (key rows for dk and dv)
 * and walk their visible keys (queries) keeping only running statistics — online softmax forward (FlashAttention),
 * the saved log-sum-exp backward — so no kernel holds T×S scores. No invocation waits for another but at a tile's
 * barriers: each writes only its own rows. Which rows an invocation owns follows the device class and how the target
 * runs invocations: per row, in tiles (`gpu`), in blocks whose loops gcc vectorises (C), or register-blocked where
 * invocations are a SIMD vector's lanes (WGSL's `cpu` class, attention-registers.ts).
 */

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
  return [K.let_('bh', K.div(r, U(z.t))), K.let_('qi', K.mod(r, U(z.t))), ...ofHead(z)];
}

/** q row `r`'s and key row `key`'s elements, read from their buffers. */
const qOf = (v: Value, z: AttentionSizes, r: Expr) => (d: Expr) => K.load(operand(v, 0), K.add(K.mul(r, U(z.dh)), d));
const kOf = (v: Value, z: AttentionSizes, key: Expr) => (d: Expr) =>
  K.load(operand(v, 1), K.add(K.mul(key, U(z.dh)), d));

/**
 * The score of a query row (its elements `qAt`) against a key row (`kAt`), scaled, into `s`; with ALiBi biased by the
 * distance of key `j` from query `qi`'s position (every caller names them so, and the head's `slope`).
 */
const score = (z: AttentionSizes, qAt: (d: Expr) => Expr, kAt: (d: Expr) => Expr): Stmt[] => [
  ...dot('qk', z.dh, qAt, kAt),
  scaled(z),
];

/** `s` from the dot product `qk`: scaled, and with ALiBi biased. */
const scaled = (z: AttentionSizes): Stmt =>
  K.let_(
    's',
    z.alibi
      ? K.add(K.mul(f('qk'), K.f32(z.scale)), alibiTerm(f('slope'), K.add(u('qi'), U(z.s - z.t)), u('j')))
      : K.mul(f('qk'), K.f32(z.scale)),
  );

/**
 * Keys per block of the online softmax: one rescale (an exp, and the accumulator's) per block, not per key. Larger
 * blocks drift further from the CPU reference on SwiftShader (GPT Shakespeare's gradients after 2 steps: 4.2e-5 per
 * key, 6.4e-5 in blocks of 4, 1.1e-4 in blocks of 16).
 */
const BLOCK = 4;

/**
 * The online softmax over keys j in [from, to) in blocks of BLOCK (FlashAttention-2), `scoreAt` making key `j`'s score
 * `s`: the block's scores first, then the running max `m` and sum `l` rescaled once by c = exp(m − m'), then each
 * key's weight p; `rescale` scales what the caller accumulates by c, `each` adds key `j`'s weight p.
 */
const onlineBlocks = (from: Expr, to: Expr, scoreAt: Stmt[], rescale: Stmt[], each: Stmt[]): Stmt =>
  K.loop(
    'j0',
    from,
    to,
    [
      K.array('sb', 'f32', BLOCK),
      K.var_('bm', K.f32(LOW)),
      K.loop('jj', U(0), U(BLOCK), [
        K.let_('j', K.add(u('j0'), u('jj'))),
        K.if_(
          K.lt(u('j'), to),
          [...scoreAt, K.setAt('sb', u('jj'), f('s')), K.set('bm', K.max(f('bm'), f('s')))],
          [K.setAt('sb', u('jj'), K.f32(LOW))],
        ),
      ]),
      K.let_('m2', K.max(f('m'), f('bm'))),
      K.let_('c', K.call('exp', K.sub(f('m'), f('m2')))),
      K.set('l', K.mul(f('l'), f('c'))),
      ...rescale,
      K.loop('jj', U(0), K.min(U(BLOCK), K.sub(to, u('j0'))), [
        K.let_('j', K.add(u('j0'), u('jj'))),
        K.let_('p', K.call('exp', K.sub(K.load('sb', u('jj'), 'f32'), f('m2')))),
        K.set('l', K.add(f('l'), f('p'))),
        ...each,
      ]),
      K.set('m', f('m2')),
    ],
    U(BLOCK),
  );

const onlineStart: Stmt[] = [K.var_('m', K.f32(LOW)), K.var_('l', K.f32(0))];

/** The online softmax over row `i`'s visible keys, read from the buffers. */
const online = (v: Value, z: AttentionSizes, rescale: Stmt[], each: Stmt[]): Stmt[] => [
  ...onlineStart,
  onlineBlocks(U(0), u('nk'), score(z, qOf(v, z, u('i')), kOf(v, z, K.add(u('kv'), u('j')))), rescale, each),
];

/** Query rows per workgroup of the tiled kernels: an invocation each. */
const ROWS = WG;
/** Floats of workgroup memory every WebGPU device offers (16 KiB). */
const SHARED_FLOATS = 4096;

/** Keys per tile: as many rows of K (and of V) as fit SHARED_FLOATS, at most 64, whole blocks (0: none fit). */
const tileKeys = (z: AttentionSizes, withV: boolean): number =>
  Math.min(64, Math.floor(SHARED_FLOATS / (z.dh + (withV ? z.dv : 0)) / BLOCK) * BLOCK);

const tiles = (z: AttentionSizes, withV: boolean): boolean =>
  tileKeys(z, withV) > 0 && z.n * z.h <= 65535 && Math.ceil(z.t / ROWS) <= 65535;

/**
 * A workgroup's ROWS query rows of one head walk their keys tile by tile (FlashAttention's tiling): the workgroup
 * copies each tile of K (and V) rows into workgroup memory together, then each invocation runs its row's online
 * softmax over the tile's keys (in the per-row kernel's blocks, so in its order and with its numbers) from its q row
 * in registers, and `each` reads the tile's V rows through `vAt`. `finish` writes the row. Tiles run to the
 * workgroup's last visible key, so every invocation reaches each barrier; rows past T or keys past a row's last are
 * masked.
 */
function tiledRows(
  v: Value,
  z: AttentionSizes,
  withV: boolean,
  prelude: Stmt[],
  rescale: Stmt[],
  each: (vAt: (d: Expr) => Expr) => Stmt[],
  finish: Stmt[],
): KernelBody {
  const bc = tileKeys(z, withV);
  const copy = (name: string, n: number, from: number) =>
    K.loop('e', U(0), U(Math.ceil((bc * n) / ROWS)), [
      K.let_('x', K.add(K.lid, K.mul(u('e'), U(ROWS)))),
      K.let_('key', K.add(u('t0'), K.div(u('x'), U(n)))),
      K.if_(K.lt(u('x'), U(bc * n)), [
        K.setAt(
          name,
          u('x'),
          K.select(
            K.lt(u('key'), U(z.s)),
            K.load(
              operand(v, from),
              K.add(K.mul(K.add(u('kv'), K.min(u('key'), U(z.s - 1))), U(n)), K.mod(u('x'), U(n))),
            ),
            K.f32(0),
          ),
        ),
      ]),
    ]);
  const inTile = (name: string, n: number) => (d: Expr) =>
    K.load(name, K.add(K.mul(K.sub(u('j'), u('t0')), U(n)), d), 'f32');
  // the workgroup's last row sees the most keys
  const last = K.add(K.mul(K.wid.x, U(ROWS)), U(ROWS - 1 + z.s - z.t + 1));
  return {
    workgroup: [ROWS, 1, 1],
    dispatch: [Math.ceil(z.t / ROWS), z.n * z.h, 1],
    shared: [
      { name: 'kt', t: 'f32', size: bc * z.dh },
      ...(withV ? [{ name: 'vt', t: 'f32' as const, size: bc * z.dv }] : []),
    ],
    body: [
      K.let_('bh', K.wid.y),
      K.let_('qi', K.add(K.mul(K.wid.x, U(ROWS)), K.lid)),
      K.let_('live', K.lt(u('qi'), U(z.t))),
      K.let_('i', K.add(K.mul(u('bh'), U(z.t)), K.min(u('qi'), U(z.t - 1)))),
      ...ofHead(z),
      K.let_('wend', z.causal ? K.min(U(z.s), last) : U(z.s)),
      ...prelude,
      K.array('qr', 'f32', z.dh),
      K.loop('d', U(0), U(z.dh), [K.setAt('qr', u('d'), K.load(operand(v, 0), K.add(K.mul(u('i'), U(z.dh)), u('d'))))]),
      ...onlineStart,
      K.loop(
        't0',
        U(0),
        u('wend'),
        [
          copy('kt', z.dh, 1),
          ...(withV ? [copy('vt', z.dv, 2)] : []),
          K.barrier,
          K.if_(u('live'), [
            onlineBlocks(
              u('t0'),
              K.min(K.add(u('t0'), U(bc)), u('nk')),
              score(z, (d) => K.load('qr', d, 'f32'), inTile('kt', z.dh)),
              rescale,
              each(inTile('vt', z.dv)),
            ),
          ]),
          K.barrier,
        ],
        U(bc),
      ),
      K.if_(u('live'), finish),
    ],
  };
}

/** Row r of a block of RB query rows of head `bh` from position `q0` (clamped: rows past T compute what is dropped). */
const blockRow = (z: AttentionSizes, r: Expr): Expr =>
  K.add(K.mul(u('bh'), U(z.t)), K.min(K.add(u('q0'), r), U(z.t - 1)));

/** Query rows per invocation of the blocked kernels (natively at T 1024: 4 rows 2.5x slower, 16 rows 3.4x). */
const RB = 8;

/**
 * RB consecutive query rows of one head per invocation, for devices whose invocations run apart (C, WGSL's `cpu`
 * class): each K and V row is loaded once for the RB rows (1/RB of the per-row kernel's traffic), and each row
 * keeps its running max, sum and accumulator (at `r`·dv of `acc`) in arrays. Every row runs the per-row kernel's
 * arithmetic in its order — the key blocks of the invocation's last row, where a row that sees no key of a block
 * rescales by exp(0) = 1 — so the two differ only where a compiler contracts differently. `rescale`, `each`
 * (reading V's row `j` through `vAt`) and `finish` act on the row at `at` of acc; `l` is the row's sum, `m` its
 * maximum.
 */
function blockedRows(
  v: Value,
  z: AttentionSizes,
  withV: boolean,
  prelude: Stmt[],
  rescale: (at: Expr) => Stmt[],
  each: (vAt: (d: Expr) => Expr, at: Expr) => Stmt[],
  finish: (at: Expr) => Stmt[],
): KernelBody {
  const nb = Math.ceil(z.t / RB);
  const rowOf = (r: Expr) => blockRow(z, r);
  // row r's position, visible keys and index (clamped: rows past T compute what is discarded)
  const row: Stmt[] = [
    K.let_('qi', K.add(u('q0'), u('r'))),
    K.let_('nk', z.causal ? K.min(U(z.s), K.add(u('qi'), U(z.s - z.t + 1))) : U(z.s)),
    K.let_('i', rowOf(u('r'))),
  ];
  const lanesOf = z.dh % LANES ? 1 : LANES;
  const kd = (d: Expr) => K.load(operand(v, 1), K.add(K.mul(K.add(u('kv'), u('j')), U(z.dh)), d));
  // qkl[r·lanes + ln] += q_r[d0·lanes + ln] · k_j[d0·lanes + ln]: k's lanes loaded once for the RB rows
  const lane = (d0: Expr, ln: Expr) => K.add(K.mul(d0, U(lanesOf)), ln);
  const accumulate = (d0: Expr): Stmt[] => [
    K.array('kl', 'f32', lanesOf),
    K.loop('ln', U(0), U(lanesOf), [K.setAt('kl', u('ln'), kd(lane(d0, u('ln'))))]),
    K.loop('r', U(0), U(RB), [
      K.loop('ln', U(0), U(lanesOf), [
        K.setAt(
          'qkl',
          K.add(K.mul(u('r'), U(lanesOf)), u('ln')),
          K.mul(K.load('qr', K.add(K.mul(u('r'), U(z.dh)), lane(d0, u('ln'))), 'f32'), K.load('kl', u('ln'), 'f32')),
          '+',
        ),
      ]),
    ]),
  ];
  const body = flat(z.n * z.h * nb, [
    K.let_('i0', u('i')),
    K.let_('bh', K.div(u('i0'), U(nb))),
    K.let_('q0', K.mul(K.mod(u('i0'), U(nb)), U(RB))),
    K.let_('qi', K.min(K.add(u('q0'), U(RB - 1)), U(z.t - 1))),
    ...ofHead(z),
    K.let_('nkb', u('nk')),
    ...prelude,
    // the RB rows of q, in registers
    K.array('qr', 'f32', RB * z.dh),
    K.loop('r', U(0), U(RB), [
      K.loop('d', U(0), U(z.dh), [
        K.setAt(
          'qr',
          K.add(K.mul(u('r'), U(z.dh)), u('d')),
          K.load(operand(v, 0), K.add(K.mul(rowOf(u('r')), U(z.dh)), u('d'))),
        ),
      ]),
    ]),
    K.array('mr', 'f32', RB),
    K.array('lr', 'f32', RB),
    K.loop('r', U(0), U(RB), [K.setAt('mr', u('r'), K.f32(LOW))]),
    K.loop(
      'j0',
      U(0),
      u('nkb'),
      [
        K.array('sb', 'f32', RB * BLOCK),
        K.loop('jj', U(0), U(BLOCK), [
          K.let_('j', K.add(u('j0'), u('jj'))),
          K.if_(
            K.lt(u('j'), u('nkb')),
            [
              K.array('qkl', 'f32', RB * lanesOf),
              K.loop('d0', U(0), U(z.dh / lanesOf), accumulate(u('d0'))),
              K.loop('r', U(0), U(RB), [
                ...row,
                K.var_('qk', K.f32(0)),
                K.loop('ln', U(0), U(lanesOf), [
                  K.set('qk', K.load('qkl', K.add(K.mul(u('r'), U(lanesOf)), u('ln')), 'f32'), '+'),
                ]),
                scaled(z),
                K.setAt(
                  'sb',
                  K.add(K.mul(u('r'), U(BLOCK)), u('jj')),
                  K.select(K.lt(u('j'), u('nk')), f('s'), K.f32(LOW)),
                ),
              ]),
            ],
            [K.loop('r', U(0), U(RB), [K.setAt('sb', K.add(K.mul(u('r'), U(BLOCK)), u('jj')), K.f32(LOW))])],
          ),
        ]),
        // each row's block maximum, and its sum and accumulator rescaled
        K.loop('r', U(0), U(RB), [
          K.let_('at', K.mul(u('r'), U(z.dv))),
          K.var_('bm', K.f32(LOW)),
          K.loop('jj', U(0), U(BLOCK), [
            K.set('bm', K.max(f('bm'), K.load('sb', K.add(K.mul(u('r'), U(BLOCK)), u('jj')), 'f32'))),
          ]),
          K.let_('m', K.load('mr', u('r'), 'f32')),
          K.let_('m2', K.max(f('m'), f('bm'))),
          K.let_('c', K.call('exp', K.sub(f('m'), f('m2')))),
          K.setAt('lr', u('r'), K.mul(K.load('lr', u('r'), 'f32'), f('c'))),
          ...rescale(u('at')),
          K.setAt('mr', u('r'), f('m2')),
        ]),
        // then key by key, its V row loaded once: each row's weight p (keys past a row's last are skipped)
        K.loop('jj', U(0), K.min(U(BLOCK), K.sub(u('nkb'), u('j0'))), [
          K.let_('j', K.add(u('j0'), u('jj'))),
          ...(withV
            ? [
                K.array('vl', 'f32', z.dv),
                K.loop('d', U(0), U(z.dv), [
                  K.setAt('vl', u('d'), K.load(operand(v, 2), K.add(K.mul(K.add(u('kv'), u('j')), U(z.dv)), u('d')))),
                ]),
              ]
            : []),
          K.loop('r', U(0), U(RB), [
            ...row,
            K.if_(K.lt(u('j'), u('nk')), [
              K.let_('at', K.mul(u('r'), U(z.dv))),
              K.let_(
                'p',
                K.call(
                  'exp',
                  K.sub(K.load('sb', K.add(K.mul(u('r'), U(BLOCK)), u('jj')), 'f32'), K.load('mr', u('r'), 'f32')),
                ),
              ),
              K.setAt('lr', u('r'), K.add(K.load('lr', u('r'), 'f32'), f('p'))),
              ...each((d) => K.load('vl', d, 'f32'), u('at')),
            ]),
          ]),
        ]),
      ],
      U(BLOCK),
    ),
    K.loop('r', U(0), U(RB), [
      ...row,
      K.if_(K.lt(u('qi'), U(z.t)), [
        K.let_('m', K.load('mr', u('r'), 'f32')),
        K.let_('l', K.load('lr', u('r'), 'f32')),
        ...finish(K.mul(u('r'), U(z.dv))),
      ]),
    ]),
  ]);
  // gcc's loop vectoriser takes the loops over a row's elements (1.65x at T 1024 with 4 rows; no sum is reordered)
  return { ...body, vectorLoops: true };
}

/**
 * How a device runs the attention kernels: `registers` where its invocations are a SIMD vector's lanes (WGSL's `cpu`
 * class: SwiftShader), `blocked` where each runs alone and a compiler vectorises its loops (C), `tiled` where a
 * workgroup cooperates through workgroup memory (the `gpu` class of WGSL and CUDA; a row per invocation where the
 * tiles do not fit, and for the backward).
 */
type Shape = 'registers' | 'blocked' | 'tiled';
const shapeFor = (cls: DeviceClass, cooperative: boolean): Shape =>
  !cooperative ? 'blocked' : cls === 'cpu' ? 'registers' : 'tiled';

/**
 * o = softmax(q·kᵀ · scale) · v: a query row per invocation, reading K and V from the buffers; RB rows per invocation
 * natively (C); register blocks on CPU drivers (WGSL's `cpu` class); or (`gpu` class on a cooperative target: WGSL's,
 * CUDA) in tiles staged in workgroup memory.
 */
const forward: Lowering = (v, cls, cooperative) => {
  const z = attentionSizes(v);
  const acc = (at: Expr, d: Expr) => K.load('acc', K.add(at, d), 'f32');
  const weight = z.dropout ? K.mul(f('p'), f('keep')) : f('p');
  const rescale = (at: Expr) => [
    lanes(z.dv, () => [K.setAt('acc', K.add(at, u('d')), K.mul(acc(at, u('d')), f('c')))]),
  ];
  const each = (vAt: (d: Expr) => Expr, at: Expr): Stmt[] => [
    ...keepOf(z, u('i')),
    K.let_('pw', weight),
    lanes(z.dv, () => [K.setAt('acc', K.add(at, u('d')), K.mul(f('pw'), vAt(u('d'))), '+')]),
  ];
  const finish = (at: Expr) => [
    K.loop('d', U(0), U(z.dv), [K.store(res, K.add(K.mul(u('i'), U(z.dv)), u('d')), K.div(acc(at, u('d')), f('l')))]),
  ];
  const vRow = (d: Expr) => K.load(operand(v, 2), K.add(K.mul(K.add(u('kv'), u('j')), U(z.dv)), d));
  const prelude = seedStepOf(v, z, 3);
  const shape = shapeFor(cls, cooperative);
  if (shape === 'tiled' && tiles(z, true))
    return tiledRows(
      v,
      z,
      true,
      [...prelude, K.array('acc', 'f32', z.dv)],
      rescale(U(0)),
      (vAt) => each(vAt, U(0)),
      finish(U(0)),
    );
  if (shape === 'registers') return registerForward(v, z, true, finish);
  if (shape === 'blocked')
    return blockedRows(v, z, true, [...prelude, K.array('acc', 'f32', RB * z.dv)], rescale, each, finish);
  return flat(z.n * z.h * z.t, [
    ...prelude,
    ...queryRow(z, u('i')),
    K.array('acc', 'f32', z.dv),
    ...online(v, z, rescale(U(0)), each(vRow, U(0))),
    ...finish(U(0)),
  ]);
};

/** Each query row's log-sum-exp of its scores (blocked, register-blocked or tiled as the forward is). */
const lse: Lowering = (v, cls, cooperative) => {
  const z = attentionSizes({ ...v, inputs: [v.inputs[0]!, v.inputs[1]!, v.inputs[1]!] });
  const finish = [K.store(res, u('i'), K.add(f('m'), K.call('log', f('l'))))];
  const shape = shapeFor(cls, cooperative);
  if (shape === 'tiled' && tiles(z, false)) return tiledRows(v, z, false, [], [], () => [], finish);
  if (shape === 'registers') return registerForward(v, z, false, () => finish);
  if (shape === 'blocked')
    return blockedRows(
      v,
      z,
      false,
      [],
      () => [],
      () => [],
      () => finish,
    );
  return flat(z.n * z.h * z.t, [...queryRow(z, u('i')), ...online(v, z, [], []), ...finish]);
};

/**
 * dq, dk and dv: the first N·H·T invocations a query row each (dq_i = scale Σ_j dS_ij k_j), the next N·Hkv·S a key
 * row each (dv_j = Σ_i P_ij do_i, dk_j = scale Σ_i dS_ij q_i over the query heads that share it), with P recomputed
 * from the saved log-sum-exp and dS_ij = P_ij (do_i · v_j − do_i · o_i).
 */
const backward: Lowering = (v, cls, cooperative) => {
  const shape = shapeFor(cls, cooperative);
  if (shape === 'registers') return registerBackward(v);
  const z = attentionSizes(v);
  const [q, k, val, o, lseRows, dO] = v.inputs.map((_, i) => operand(v, i));
  const [offQ, offK, offV] = attentionGradLayout(v.inputs).offsets as [number, number, number];
  const queries = z.n * z.h * z.t;
  const at = (buf: string, row: Expr, n: number, d: Expr) => K.load(buf, K.add(K.mul(row, U(n)), d));
  type Row = (d: Expr) => Expr;
  // dS_ij · scale for query row r (its do · o in `D`; its q and do elements through qAt and gAt) against a key row
  // (kAt, vAt; key j of r's row), and `pw`, P_ij as the forward weighed v_j (dropped)
  const dsAt = (r: Expr, qAt: Row, gAt: Row, kAt: Row, vAt: Row): Stmt[] => [
    ...score(z, qAt, kAt),
    K.let_('p', K.call('exp', K.sub(f('s'), K.load(lseRows!, r)))),
    ...dot('dp', z.dv, gAt, vAt),
    ...keepOf(z, r),
    K.let_('pw', z.dropout ? K.mul(f('p'), f('keep')) : f('p')),
    K.let_('dpw', z.dropout ? K.mul(f('dp'), f('keep')) : f('dp')),
    K.let_('ds', K.mul(K.mul(f('p'), K.sub(f('dpw'), f('D'))), K.f32(z.scale))),
  ];
  const dsOf = (r: Expr, key: Expr): Stmt[] =>
    dsAt(
      r,
      qOf(v, z, r),
      (d) => at(dO!, r, z.dv, d),
      kOf(v, z, key),
      (d) => at(val!, key, z.dv, d),
    );
  // RB rows of `buf` (of n elements, row r at rowOf(r)) copied into the local array `name`, and its row r read back
  const rowsInto = (name: string, n: number, buf: string, rowOf: (r: Expr) => Expr): Stmt[] => [
    K.array(name, 'f32', RB * n),
    K.loop('r', U(0), U(RB), [
      K.loop('d', U(0), U(n), [K.setAt(name, K.add(K.mul(u('r'), U(n)), u('d')), at(buf, rowOf(u('r')), n, u('d')))]),
    ]),
  ];
  const inRow = (name: string, n: number) => (d: Expr) => K.load(name, K.add(K.mul(u('r'), U(n)), d), 'f32');
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
  // the cpu class: RB key rows of a head per invocation, each query's q, do and D read once for them
  const nbS = Math.ceil(z.s / RB);
  const nbT = Math.ceil(z.t / RB);
  const keyOf = (r: Expr) => K.add(K.mul(u('bk'), U(z.s)), K.min(K.add(u('jb'), r), U(z.s - 1)));
  const blockedKeys: Stmt[] = [
    K.let_('eb', K.sub(u('i'), U(z.n * z.h * nbT))),
    K.let_('bk', K.div(u('eb'), U(nbS))),
    K.let_('jb', K.mul(K.mod(u('eb'), U(nbS)), U(RB))),
    K.let_('i0', z.causal ? K.select(K.gt(u('jb'), U(z.s - z.t)), K.sub(u('jb'), U(z.s - z.t)), U(0)) : U(0)),
    ...rowsInto('kr', z.dh, k!, keyOf),
    ...rowsInto('vr', z.dv, val!, keyOf),
    K.array('dk', 'f32', RB * z.dh),
    K.array('dv', 'f32', RB * z.dv),
    K.loop('g', U(0), U(z.g), [
      K.let_('bh', K.add(K.mul(u('bk'), U(z.g)), u('g'))),
      ...slopeOf(z),
      K.loop('qi', u('i0'), U(z.t), [
        K.let_('row', K.add(K.mul(u('bh'), U(z.t)), u('qi'))),
        ...rowD(u('row')),
        K.loop('r', U(0), U(RB), [
          K.let_('j', K.add(u('jb'), u('r'))),
          // a key past S (the last block's) or after the query's position
          K.if_(
            z.causal ? K.and(K.lt(u('j'), U(z.s)), K.le(u('j'), K.add(u('qi'), U(z.s - z.t)))) : K.lt(u('j'), U(z.s)),
            [
              ...dsAt(
                u('row'),
                qOf(v, z, u('row')),
                (d) => at(dO!, u('row'), z.dv, d),
                inRow('kr', z.dh),
                inRow('vr', z.dv),
              ),
              lanes(z.dv, () => [
                K.setAt(
                  'dv',
                  K.add(K.mul(u('r'), U(z.dv)), u('d')),
                  K.mul(f('pw'), at(dO!, u('row'), z.dv, u('d'))),
                  '+',
                ),
              ]),
              lanes(z.dh, () => [
                K.setAt(
                  'dk',
                  K.add(K.mul(u('r'), U(z.dh)), u('d')),
                  K.mul(f('ds'), at(q!, u('row'), z.dh, u('d'))),
                  '+',
                ),
              ]),
            ],
          ),
        ]),
      ]),
    ]),
    K.loop('r', U(0), U(RB), [
      K.if_(K.lt(K.add(u('jb'), u('r')), U(z.s)), [
        K.let_('e', keyOf(u('r'))),
        K.loop('d', U(0), U(z.dh), [
          K.store(
            res,
            K.add(U(offK), K.add(K.mul(u('e'), U(z.dh)), u('d'))),
            K.load('dk', K.add(K.mul(u('r'), U(z.dh)), u('d')), 'f32'),
          ),
        ]),
        K.loop('d', U(0), U(z.dv), [
          K.store(
            res,
            K.add(U(offV), K.add(K.mul(u('e'), U(z.dv)), u('d'))),
            K.load('dv', K.add(K.mul(u('r'), U(z.dv)), u('d')), 'f32'),
          ),
        ]),
      ]),
    ]),
  ];
  // and RB query rows of a head per invocation for dq, each key's k and v rows read once for them
  const rowAt = (r: Expr) => blockRow(z, r);
  const blockedQueries: Stmt[] = [
    K.let_('bh', K.div(u('i'), U(nbT))),
    K.let_('q0', K.mul(K.mod(u('i'), U(nbT)), U(RB))),
    K.let_('qi', K.min(K.add(u('q0'), U(RB - 1)), U(z.t - 1))),
    ...ofHead(z),
    K.let_('nkb', u('nk')),
    ...rowsInto('qr', z.dh, q!, rowAt),
    ...rowsInto('gr', z.dv, dO!, rowAt),
    K.array('Dr', 'f32', RB),
    K.loop('r', U(0), U(RB), [...rowD(rowAt(u('r'))), K.setAt('Dr', u('r'), f('D'))]),
    K.array('dq', 'f32', RB * z.dh),
    K.loop('j', U(0), u('nkb'), [
      K.array('kl', 'f32', z.dh),
      K.array('vl', 'f32', z.dv),
      K.loop('d', U(0), U(z.dh), [K.setAt('kl', u('d'), at(k!, K.add(u('kv'), u('j')), z.dh, u('d')))]),
      K.loop('d', U(0), U(z.dv), [K.setAt('vl', u('d'), at(val!, K.add(u('kv'), u('j')), z.dv, u('d')))]),
      K.loop('r', U(0), U(RB), [
        K.let_('qi', K.add(u('q0'), u('r'))),
        K.let_('nk', z.causal ? K.min(U(z.s), K.add(u('qi'), U(z.s - z.t + 1))) : U(z.s)),
        K.if_(K.lt(u('j'), u('nk')), [
          K.let_('row', rowAt(u('r'))),
          K.let_('D', K.load('Dr', u('r'), 'f32')),
          ...dsAt(
            u('row'),
            inRow('qr', z.dh),
            inRow('gr', z.dv),
            (d) => K.load('kl', d, 'f32'),
            (d) => K.load('vl', d, 'f32'),
          ),
          lanes(z.dh, () => [
            K.setAt('dq', K.add(K.mul(u('r'), U(z.dh)), u('d')), K.mul(f('ds'), K.load('kl', u('d'), 'f32')), '+'),
          ]),
        ]),
      ]),
    ]),
    K.loop('r', U(0), U(RB), [
      K.if_(K.lt(K.add(u('q0'), u('r')), U(z.t)), [
        K.loop('d', U(0), U(z.dh), [
          K.store(
            res,
            K.add(U(offQ), K.add(K.mul(rowAt(u('r')), U(z.dh)), u('d'))),
            K.load('dq', K.add(K.mul(u('r'), U(z.dh)), u('d')), 'f32'),
          ),
        ]),
      ]),
    ]),
  ];
  const blocked = shape === 'blocked';
  const dqCount = blocked ? z.n * z.h * nbT : queries;
  const body = flat(dqCount + z.n * z.hkv * (blocked ? nbS : z.s), [
    ...seedStepOf(v, z, 6),
    blocked
      ? K.if_(K.lt(u('i'), U(dqCount)), blockedQueries, blockedKeys)
      : K.if_(K.lt(u('i'), U(queries)), dqRole, dkvRole),
  ]);
  return { ...body, vectorLoops: true };
};

export const attentionLowerings: Record<string, Lowering> = {
  attention: forward,
  attention_lse: lse,
  attention_grad: backward,
};
