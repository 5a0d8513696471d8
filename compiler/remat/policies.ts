import type { Schedule } from './schedule.ts';

/**
 * Reverses [a, b) keeping every stage's internals: no recomputation on the first sweep, one forward of the range
 * otherwise.
 */
export function keepAll(a: number, b: number): Schedule {
  return b - a === 1 ? { kind: 'single', stage: a } : { kind: 'keep', stage: a, rest: keepAll(a + 1, b) };
}

/**
 * Chen et al. (2016): the first sweep stores the input of every k-th stage; each segment between
 * stored inputs is recomputed once, keeping its internals, when the backward pass reaches it.
 * k = 1 keeps only stage inputs (`all`); k ≥ n keeps everything (`none`).
 */
export function everyK(n: number, k: number): Schedule {
  const starts: number[] = [];
  for (let s = 0; s < n; s += k) starts.push(s);
  const build = (i: number): Schedule =>
    i === starts.length - 1
      ? keepAll(starts[i]!, n)
      : { kind: 'split', at: starts[i + 1]!, right: build(i + 1), left: keepAll(starts[i]!, starts[i + 1]!) };
  return build(0);
}

/** Segments of about √n stages. */
export const sqrtK = (n: number) => Math.max(1, Math.round(Math.sqrt(n)));
