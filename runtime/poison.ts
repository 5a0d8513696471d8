/**
 * The debug mode that checks a plan's liveness where it runs: every arena range the plan frees is
 * overwritten with POISON_BITS at once, so a kernel that reads it later computes NaN.
 */

/** The bits written over a freed arena range: a quiet NaN whose payload spells "bad". */
export const POISON_BITS = 0x7fbadbad;

/** Thrown when a poisoned run read memory the plan had freed. */
export class PoisonError extends Error {}

/** The names of the tensors that hold a NaN (poisoned debug runs fail on them). */
export function poisoned(tensors: Map<string, Float32Array | Int32Array>): string[] {
  const out: string[] = [];
  for (const [name, t] of tensors) if (t instanceof Float32Array && t.some(Number.isNaN)) out.push(name);
  return out;
}

/** Whether FLEXC_POISON=1 asks for poisoned runs. */
export const poisonByDefault = (): boolean => globalThis.process?.env?.['FLEXC_POISON'] === '1';
