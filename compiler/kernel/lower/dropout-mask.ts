import type { Bind } from '../build.ts';
import * as K from '../build.ts';
import type { Expr } from '../ir.ts';

/** murmur3's finaliser on u32: the dropout mask's hash (`fmix32` in ir/ops/dropout.ts). */
function fmix32(h0: Expr, bind: Bind): Expr {
  let h = bind(K.xor(h0, K.shr(h0, K.u32(16))));
  h = bind(K.mul(h, K.u32(0x85ebca6b)));
  h = bind(K.xor(h, K.shr(h, K.u32(13))));
  h = bind(K.mul(h, K.u32(0xc2b2ae35)));
  return bind(K.xor(h, K.shr(h, K.u32(16))));
}

/** The hash of a dropout's seed and training step (an i32 `step`), the same for each of its elements. */
export const seedStepHash = (seed: number, step: Expr, bind: Bind): Expr =>
  fmix32(K.xor(fmix32(K.u32(seed), bind), K.cast('u32', step)), bind);

/**
 * Element `at`'s multiplier: 0 with probability p, 1/(1 − p) otherwise (`dropoutUniform` in ir/ops/dropout.ts), from
 * its dropout's `seedStepHash`. Branch-free, so that native code vectorises it.
 */
export function dropoutScale(seedStep: Expr, at: Expr, p: number, bind: Bind): Expr {
  const h = fmix32(K.xor(seedStep, at), bind);
  // 24 bits, through i32: CPUs without AVX-512 convert only signed integers to floats in vectors
  const u = bind(K.div(K.cast('f32', K.cast('i32', K.shr(h, K.u32(8)))), K.f32(16777216)));
  return K.select(K.lt(u, K.f32(p)), K.f32(0), K.f32(1 / (1 - p)));
}
