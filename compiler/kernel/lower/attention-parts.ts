import type { Value } from '../../ir/graph.ts';
import { alibiExponent, type AttentionSizes } from '../../ir/ops/attention.ts';
import * as K from '../build.ts';
import type { Expr, Stmt } from '../ir.ts';
import { read } from './common.ts';
import { dropoutScale, seedStepHash } from './dropout-mask.ts';

/** What every fused-attention kernel shares: its head's keys, ALiBi's bias, dropout's mask. */

export const u = (name: string) => K.ref(name);
export const f = (name: string) => K.ref(name, 'f32');
export const U = K.u32;
/** With dropout: `seedStep`, its hash of the seed and the step (the operand after `n`), once per invocation. */
export const seedStepOf = (v: Value, z: AttentionSizes, n: number): Stmt[] => {
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
export const keepOf = (z: AttentionSizes, r: Expr): Stmt[] => {
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
export const LOW = -3.0e38;

/** For query head `bh` (batch · H + head) and position `qi`: `kv`, `nk` and (with ALiBi) `slope`. */
export const ofHead = (z: AttentionSizes): Stmt[] => [
  K.let_('kv', K.mul(K.add(K.mul(K.div(u('bh'), U(z.h)), U(z.hkv)), K.div(K.mod(u('bh'), U(z.h)), U(z.g))), U(z.s))),
  K.let_('nk', z.causal ? K.min(U(z.s), K.add(u('qi'), U(z.s - z.t + 1))) : U(z.s)),
  ...slopeOf(z),
];

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
export const slopeOf = (z: AttentionSizes): Stmt[] =>
  z.alibi ? [K.let_('slope', alibiSlope(z.h, z.alibi, K.mod(u('bh'), U(z.h))))] : [];
