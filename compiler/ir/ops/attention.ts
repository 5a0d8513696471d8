import type { Attrs, Value } from '../graph.ts';
import type { Emit } from './moe-layer.ts';
import type { NDArray, OpDef } from '../op.ts';
import { bytesOf, elems } from '../op.ts';
import { dimMul, ShapeError, type Dim, type TensorType } from '../types.ts';
import { dropoutUniform } from './dropout.ts';
import { bool, num, shapeOf } from './util.ts';

/**
 * Fused attention (FlashAttention, Dao et al. 2022): softmax(q·kᵀ · scale, causal) · v without the T×S scores.
 *
 *   attention(q [..., H, T, dh], k [..., Hkv, S, dh], v [..., Hkv, S, dv][, step]) {causal, scale, alibi?, dropout?,
 *     seed?} → o [..., H, T, dv]
 *
 * Query head h reads key/value head h / (H / Hkv) (grouped-query attention; MQA: Hkv = 1). With `causal`, query i is
 * the last T of S positions and sees keys j ≤ S − T + i (S > T when decoding after a KV cache). Its kernel keeps each
 * query row's running maximum and sum (online softmax), so memory is linear in T. The gradient recomputes: the rows'
 * log-sum-exp (`attention_lse`, one pass over the keys), then `attention_grad`, whose result packs dq, dk and dv
 * (`attentionGradLayout`), read as `part`s — the scores never exist whole in either direction. With `dropout` p (and
 * the training step as a fourth operand) the probabilities are dropped as `dropout {p, seed}` drops a [..., H, T, S]
 * tensor of them: element ((b·H + h)·T + i)·S + j's mask; the row statistics are the undropped ones.
 */

export interface AttentionSizes {
  /** The leading axes' product (batch). */
  n: number;
  h: number;
  hkv: number;
  /** Query heads per key/value head. */
  g: number;
  t: number;
  s: number;
  dh: number;
  dv: number;
  causal: boolean;
  scale: number;
  /** ALiBi's largest bias exponent (0: no ALiBi). */
  alibi: number;
  /** The probabilities' dropout (0: none) and its seed. */
  dropout: number;
  seed: number;
}

export function attentionSizes(v: Value): AttentionSizes {
  const [q, k, val] = v.inputs.map(shapeOf) as [number[], number[], number[]];
  const [h, t, dh] = q.slice(-3) as [number, number, number];
  const [hkv, s] = k.slice(-3, -1) as [number, number];
  return {
    n: q.slice(0, -3).reduce((a, d) => a * d, 1),
    ...{ h, hkv, g: h / hkv, t, s, dh, dv: val.at(-1)! },
    causal: bool(v.attrs, 'causal'),
    scale: num(v.attrs, 'scale'),
    alibi: num(v.attrs, 'alibi', 0),
    dropout: num(v.attrs, 'dropout', 0),
    seed: num(v.attrs, 'seed', 0),
  };
}

/** Query row r's (of N·H·T) multiplier of key j's probability: its dropout's (1 without dropout). */
function dropoutOf(z: AttentionSizes, step: NDArray | undefined): (r: number, j: number) => number {
  if (!z.dropout) return () => 1;
  const s = step!.data[0]!;
  return (r, j) => (dropoutUniform(z.seed, s, r * z.s + j) < z.dropout ? 0 : 1 / (1 - z.dropout));
}

/**
 * ALiBi (Press et al. 2022, as MPT builds it): query i at position S − T + i scores key j with the bias
 * −m_h · |S − T + i − j|. Over n, the power of two at or above H, head h's slope is m_h = 2^(−alibi · e_h / n) with
 * e_h = h + 1 when n = H; otherwise the odd exponents' slopes come first, then the even ones' (e_h = 2h + 2 for
 * h < n/2, 2h − n + 1 after). `alibiExponent` gives e_h·alibi/n from a head index of either kind (the kernels' and
 * the reference's).
 */
export function alibiExponent<T>(
  heads: number,
  alibi: number,
  h: T,
  ops: { lin: (h: T, a: number, b: number) => T; below: (h: T, n: number, a: T, b: T) => T },
): T {
  const n = 2 ** Math.ceil(Math.log2(heads));
  const step = alibi / n;
  if (n === heads) return ops.lin(h, step, step);
  return ops.below(h, n / 2, ops.lin(h, 2 * step, 2 * step), ops.lin(h, 2 * step, (1 - n) * step));
}

type AlibiSizes = Pick<AttentionSizes, 'h' | 't' | 's' | 'alibi'>;

const alibiSlope = (z: AlibiSizes, h: number): number =>
  2 **
  -alibiExponent(z.h, z.alibi, h, {
    lin: (x, a, b) => a * x + b,
    below: (x, n, a, b) => (x < n ? a : b),
  });

/** Head h's query row i's bias against key j (0 without ALiBi). */
export const alibiBias = (z: AlibiSizes, h: number, i: number, j: number): number =>
  z.alibi ? -alibiSlope(z, h) * Math.abs(z.s - z.t + i - j) : 0;

/** Query i's keys: 0 ≤ j < visible(i). */
export const visibleKeys = (z: Pick<AttentionSizes, 'causal' | 't' | 's'>, i: number): number =>
  z.causal ? Math.max(0, Math.min(z.s, z.s - z.t + i + 1)) : z.s;

/** A dropped probability's hash and multiply (the dropout op's 6, and 2 to weigh p and its gradient). */
const DROPOUT_FLOPS = 8;

/** (query, key) pairs a head computes. */
function pairs(z: AttentionSizes): number {
  let p = 0;
  for (let i = 0; i < z.t; i++) p += visibleKeys(z, i);
  return p;
}

const ATTRS = {
  causal: { kind: 'bool' },
  scale: { kind: 'number' },
  dropout: { kind: 'number', optional: true },
  seed: { kind: 'int', optional: true },
  alibi: { kind: 'number', optional: true },
} as const;

/** The shapes of q, k, v: leading axes alike, heads grouped, dh shared by q and k, S by k and v. */
function checkQkv([q, k, v]: TensorType[], what: string): void {
  if (!q || !k || !v || q.shape.length < 3 || k.shape.length !== q.shape.length || v.shape.length !== q.shape.length)
    throw new ShapeError(`${what} takes q [..., H, T, dh], k [..., Hkv, S, dh] and v [..., Hkv, S, dv] of one rank`);
  const r = q.shape.length;
  const same = (a: Dim, b: Dim) => typeof a !== 'number' || typeof b !== 'number' || a === b;
  for (let i = 0; i < r - 3; i++)
    if (!same(q.shape[i]!, k.shape[i]!) || !same(q.shape[i]!, v.shape[i]!))
      throw new ShapeError(`${what}: q, k and v differ in leading axes: [${q.shape}], [${k.shape}], [${v.shape}]`);
  const [h, , dh] = q.shape.slice(-3);
  const [hkv, s, dk] = k.shape.slice(-3);
  const [hv, sv] = v.shape.slice(-3);
  if (!same(dh!, dk!)) throw new ShapeError(`${what}: q's head size ${dh} is not k's ${dk}`);
  if (!same(hkv!, hv!) || !same(s!, sv!))
    throw new ShapeError(`${what}: k [..., ${hkv}, ${s}, ·] and v [..., ${hv}, ${sv}, ·] differ in heads or length`);
  if (typeof h === 'number' && typeof hkv === 'number' && (hkv < 1 || h % hkv))
    throw new ShapeError(`${what}: ${h} query heads do not group over ${hkv} key/value heads`);
  if (q.dtype !== k.dtype || q.dtype !== v.dtype) throw new ShapeError(`${what}: q, k and v differ in dtype`);
}

/** With dropout, the training step follows `n` operands (an i32 scalar); without, nothing does. */
function checkStep(ins: TensorType[], n: number, at: Attrs, what: string): void {
  const dropout = num(at, 'dropout', 0);
  if (!(dropout >= 0 && dropout < 1)) throw new ShapeError(`${what}: dropout must be in [0, 1), got ${dropout}`);
  if (ins.length !== n + (dropout ? 1 : 0))
    throw new ShapeError(`${what} takes ${n} operands${dropout ? ' and the training step (with dropout)' : ''}`);
  const step = ins[n];
  if (step && (step.dtype !== 'i32' || step.shape.length !== 0))
    throw new ShapeError(`${what}: the training step must be an i32 scalar`);
}

const rowsOf = (x: NDArray) => x.data as ArrayLike<number>;

/**
 * Each query row's scores (over its visible keys), their maximum and log-sum-exp: the definition both directions
 * share. `each(b, h, i, kvBase, qBase, scores, lse)` sees row i of head h of batch b.
 */
function forRows(
  z: AttentionSizes,
  q: NDArray,
  k: NDArray,
  each: (b: number, h: number, i: number, kv: number, qr: number, scores: Float64Array, lse: number) => void,
): void {
  const [Q, Kd] = [rowsOf(q), rowsOf(k)];
  const scores = new Float64Array(z.s);
  for (let b = 0; b < z.n; b++)
    for (let h = 0; h < z.h; h++) {
      const kvh = Math.floor(h / z.g);
      for (let i = 0; i < z.t; i++) {
        const qr = ((b * z.h + h) * z.t + i) * z.dh;
        const kv = (b * z.hkv + kvh) * z.s;
        const n = visibleKeys(z, i);
        let mx = -Infinity;
        for (let j = 0; j < n; j++) {
          let dot = 0;
          for (let d = 0; d < z.dh; d++) dot += Q[qr + d]! * Kd[(kv + j) * z.dh + d]!;
          scores[j] = dot * z.scale + alibiBias(z, h, i, j);
          mx = Math.max(mx, scores[j]!);
        }
        let sum = 0;
        for (let j = 0; j < n; j++) sum += Math.exp(scores[j]! - mx);
        each(b, h, i, kv, qr, scores, n ? mx + Math.log(sum) : -Infinity);
      }
    }
}

const attention: OpDef = {
  name: 'attention',
  class: 'attention',
  arity: 'variadic',
  attrs: ATTRS,
  infer: (ins, at) => {
    checkQkv(ins, 'attention');
    checkStep(ins, 3, at, 'attention');
    const [q, k, v] = ins as [TensorType, TensorType, TensorType];
    const [t, s] = [q.shape.at(-2), k.shape.at(-2)];
    if (bool(at, 'causal') && typeof t === 'number' && typeof s === 'number' && s < t)
      throw new ShapeError(`attention: causal queries are the last of the keys' positions: ${t} queries, ${s} keys`);
    return { dtype: q.dtype, shape: [...q.shape.slice(0, -1), v.shape.at(-1)!] };
  },
  grad: (b, v, dy) => {
    const [q, k, val, step] = v.inputs as [Value, Value, Value, Value | undefined];
    const lse = b.op('attention_lse', [q, k], v.attrs);
    const g = b.op('attention_grad', [q, k, val, v, lse, dy, ...(step ? [step] : [])], v.attrs);
    const { offsets } = attentionGradLayout(v.inputs);
    return v.inputs.map((x, i) => (i < 3 ? b.op('part', [g], { offset: offsets[i]!, shape: shapeOf(x) }) : undefined));
  },
  cost: (v) => {
    const z = attentionSizes(v);
    return {
      flops: z.n * z.h * pairs(z) * (2 * z.dh + 2 * z.dv + 4 + (z.dropout ? DROPOUT_FLOPS : 0)),
      bytes: v.inputs.reduce((a, x) => a + bytesOf(x.type), 0) + bytesOf(v.type),
    };
  },
  ref: ([q, k, val, step], v, ctx) => {
    const z = attentionSizes(v);
    const out = ctx.floats(elems(v.type));
    const V = rowsOf(val!);
    const keep = dropoutOf(z, step);
    forRows(z, q!, k!, (b, h, i, kv, _qr, scores, lse) => {
      const row = (b * z.h + h) * z.t + i;
      const o = row * z.dv;
      for (let j = 0; j < visibleKeys(z, i); j++) {
        const p = Math.exp(scores[j]! - lse) * keep(row, j);
        for (let d = 0; d < z.dv; d++) out[o + d]! += p * V[(kv + j) * z.dv + d]!;
      }
    });
    return { data: out, shape: shapeOf(v) };
  },
};

/** `attention_lse(q, k) {causal, scale}`: each query row's log-sum-exp of its scaled scores [..., H, T]. */
const attentionLse: OpDef = {
  name: 'attention_lse',
  class: 'attention',
  arity: 2,
  attrs: ATTRS,
  infer: ([q, k]) => {
    checkQkv([q!, k!, k!], 'attention_lse');
    return { dtype: q!.dtype, shape: q!.shape.slice(0, -1) };
  },
  noGrad: 'a backward op',
  cost: (v) => {
    const z = attentionSizes({ ...v, inputs: [v.inputs[0]!, v.inputs[1]!, v.inputs[1]!] });
    const bytes = bytesOf(v.inputs[0]!.type) + bytesOf(v.inputs[1]!.type) + bytesOf(v.type);
    return { flops: z.n * z.h * pairs(z) * (2 * z.dh + 3), bytes };
  },
  ref: ([q, k], v, ctx) => {
    const z = attentionSizes({ ...v, inputs: [v.inputs[0]!, v.inputs[1]!, v.inputs[1]!] });
    const out = ctx.floats(elems(v.type));
    forRows(z, q!, k!, (b, h, i, _kv, _qr, _scores, lse) => {
      out[(b * z.h + h) * z.t + i] = lse;
    });
    return { data: out, shape: shapeOf(v) };
  },
};

/** Where dq, dk and dv lie in `attention_grad`'s packed result (each from a multiple of 64 words). */
export function attentionGradLayout(qkv: readonly Value[]): { offsets: number[]; size: number } {
  let at = 0;
  const offsets = qkv.slice(0, 3).map((x) => {
    const o = at;
    at += Math.ceil(elems(x.type) / 64) * 64;
    return o;
  });
  return { offsets, size: at };
}

/**
 * `attention_grad(q, k, v, o, lse, do) {causal, scale}`: dq, dk and dv packed (FlashAttention's backward). With
 * P = exp(s − lse), D_i = do_i · o_i: dv_j = Σ_i P_ij do_i, dS_ij = P_ij (do_i · v_j − D_i),
 * dq_i = scale Σ_j dS_ij k_j, dk_j = scale Σ_i dS_ij q_i (i over the query heads that share k_j's head).
 */
const attentionGrad: OpDef = {
  name: 'attention_grad',
  class: 'attention',
  arity: 'variadic',
  attrs: ATTRS,
  infer: (ins, at) => {
    checkQkv(ins, 'attention_grad');
    checkStep(ins, 6, at, 'attention_grad');
    const [q, k, v, o, lse, dO] = ins as TensorType[];
    const oShape = [...q!.shape.slice(0, -1), v!.shape.at(-1)!];
    const like = (x: TensorType, shape: Dim[]) =>
      x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i]);
    if (!like(o!, oShape) || !like(dO!, oShape) || !like(lse!, q!.shape.slice(0, -1)))
      throw new ShapeError('attention_grad takes q, k, v, the output, its rows’ log-sum-exp and the output’s gradient');
    const padded = (x: TensorType) => x.shape.reduce<Dim>((a, d) => dimMul(a, d), 1);
    const sizes = [q!, k!, v!].map(padded);
    if (sizes.some((s) => typeof s !== 'number')) throw new ShapeError('attention_grad needs bound shapes');
    const size = (sizes as number[]).reduce((a, s) => a + Math.ceil(s / 64) * 64, 0);
    return { dtype: q!.dtype, shape: [size] };
  },
  noGrad: 'a backward op',
  cost: (v) => {
    const z = attentionSizes(v);
    const per =
      2 * z.dh +
      2 * z.dv +
      2 * z.dh +
      (2 * z.dh + 2 * z.dv + 2 * z.dv + 2 * z.dh + 2 * z.dv) +
      8 +
      (z.dropout ? DROPOUT_FLOPS : 0);
    return {
      flops: z.n * z.h * pairs(z) * per,
      bytes: v.inputs.reduce((a, x) => a + bytesOf(x.type), 0) + bytesOf(v.type),
    };
  },
  ref: ([q, k, val, o, lse, dO, step], v, ctx) => {
    const z = attentionSizes(v);
    const keep = dropoutOf(z, step);
    const { offsets, size } = attentionGradLayout(v.inputs);
    const out = ctx.floats(size);
    const [Q, Kd, V, O, L, G] = [q, k, val, o, lse, dO].map((x) => rowsOf(x!));
    const [dq, dk, dvv] = offsets as [number, number, number];
    for (let b = 0; b < z.n; b++)
      for (let h = 0; h < z.h; h++) {
        const kvh = Math.floor(h / z.g);
        for (let i = 0; i < z.t; i++) {
          const row = (b * z.h + h) * z.t + i;
          const [qr, gr] = [row * z.dh, row * z.dv];
          let D = 0;
          for (let d = 0; d < z.dv; d++) D += G[gr + d]! * O[gr + d]!;
          for (let j = 0; j < visibleKeys(z, i); j++) {
            const key = (b * z.hkv + kvh) * z.s + j;
            let s = 0;
            for (let d = 0; d < z.dh; d++) s += Q[qr + d]! * Kd[key * z.dh + d]!;
            const p = Math.exp(s * z.scale + alibiBias(z, h, i, j) - L[row]!);
            const m = keep(row, j);
            let dp = 0;
            for (let d = 0; d < z.dv; d++) {
              dp += G[gr + d]! * V[key * z.dv + d]!;
              out[dvv + key * z.dv + d]! += p * m * G[gr + d]!;
            }
            const ds = p * (dp * m - D) * z.scale;
            for (let d = 0; d < z.dh; d++) {
              out[dq + qr + d]! += ds * Kd[key * z.dh + d]!;
              out[dk + key * z.dh + d]! += ds * Q[qr + d]!;
            }
          }
        }
      }
    return { data: out, shape: [size] };
  },
};

export const attentionOps: OpDef[] = [attention, attentionLse, attentionGrad];

/** The attention op's attributes: `scale` 1/√dh unless given; `alibi` and `dropout` only when not 0. */
export const attentionAttrs = (
  q: TensorType,
  causal: boolean,
  scale?: number,
  alibi = 0,
  dropout?: { p: number; seed: number },
): Attrs => {
  const dh = q.shape.at(-1);
  return {
    causal,
    scale: scale ?? (typeof dh === 'number' ? 1 / Math.sqrt(dh) : NaN),
    ...(alibi ? { alibi } : {}),
    ...(dropout?.p ? { dropout: dropout.p, seed: dropout.seed } : {}),
  };
};

/**
 * The composite: what `attention` computes, in the IR's ops — each query head group's T×S scores (q·kᵀ · scale),
 * ALiBi's biases, the causal mask, softmax, the probabilities' dropout, times v. What `attention: composite` runs,
 * and the test oracle of the fused kernels.
 */
export function decomposeAttention(emit: Emit, q: Value, k: Value, v: Value, at: Attrs, step?: Value): Value {
  const lead = q.type.shape.slice(0, -3) as number[];
  const [h, t, dh] = q.type.shape.slice(-3) as number[];
  const [hkv, s] = k.type.shape.slice(-3, -1) as number[];
  const dv = v.type.shape.at(-1) as number;
  const g = h! / hkv!;
  const grouped = (x: Value, shape: number[]) => (g === 1 ? x : emit('reshape', [x], { shape: [...lead, ...shape] }));
  const qg = grouped(q, [hkv!, g, t!, dh!]);
  const kg = grouped(k, [hkv!, 1, s!, dh!]);
  const vg = grouped(v, [hkv!, 1, s!, dv]);
  const rank = qg.type.shape.length;
  const perm = [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];
  const kt = emit('transpose', [kg], { perm });
  const scale = emit('const', [], { value: num(at, 'scale'), dtype: q.type.dtype });
  const scaled = emit('mul', [emit('matmul', [qg, kt]), scale]);
  const alibi = num(at, 'alibi', 0);
  const scores = alibi ? emit('alibi_bias', [scaled], { heads: h!, alibi }) : scaled;
  const masked = bool(at, 'causal') ? emit('causal_mask', [scores], { fill: -Infinity }) : scores;
  const probs = emit('softmax', [masked]);
  const p = num(at, 'dropout', 0);
  const dropped = p ? emit('dropout', [probs, step!], { p, seed: num(at, 'seed') }) : probs;
  const y = emit('matmul', [dropped, vg]);
  return g === 1 ? y : emit('reshape', [y], { shape: [...lead, h!, t!, dv] });
}
