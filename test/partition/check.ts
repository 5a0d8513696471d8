import { expect } from 'vitest';
import type { StepResult } from '../../compiler/interp/interpret.ts';
import { sliceOf } from '../../compiler/interp/ranks.ts';
import type { Module, Value } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { shardOf } from '../../compiler/passes/partition-tensor.ts';
import { relErr } from '../helpers/oracle.ts';

/** What the rank at tensor index `at` holds of the one device's tensor `w` of leaf `v` (a slice, or all of it). */
const heldOf = (v: Value, w: NDArray, at: number): NDArray => {
  const s = shardOf(v);
  return s ? sliceOf(w, s.axis, s.parts, at, s.outer) : w;
};

/** Whether rank `k` holds leaf `v` (every rank, unless a pipeline gives each stage's leaves to its ranks). */
export type Holds = (k: number, v: Value) => boolean;

/**
 * Each rank's gradients (`grad:` outputs) against the one device's, sliced where the rank holds a slice; each
 * gradient is some rank's.
 */
export function expectGradients(
  r: Module,
  got: StepResult[],
  want: Map<string, NDArray>,
  at: (rank: number) => number,
  what: string,
  holds: Holds = () => true,
) {
  const seen = new Set<string>();
  for (const [k, g] of got.entries())
    for (const o of r.outputs) {
      if (!o.name.startsWith('grad:')) continue;
      const p = r.values.find((v) => v.op === 'param' && v.attrs['name'] === o.name.slice(5))!;
      if (!holds(k, p)) continue;
      seen.add(o.name);
      const expected = heldOf(p, want.get(o.name)!, at(k));
      expect(relErr(g.outputs.get(o.name)!.data, expected.data), `${what} rank ${k} ${o.name}`).toBeLessThan(1e-5);
    }
  expect(seen.size, `${what}: gradients checked`).toBe(r.outputs.filter((o) => o.name.startsWith('grad:')).length);
}

/**
 * Each rank's leaves of kind `ops` against the one device's (`whole`), sliced where the rank holds a slice; each leaf
 * is held by some rank, and only by those `holds` says.
 */
export function expectHeld(
  r: Module,
  ranks: { params: Map<string, NDArray> }[],
  whole: Map<string, NDArray>,
  at: (rank: number) => number,
  what: string,
  ops: readonly string[] = ['param'],
  tolerance = 1e-5,
  holds: Holds = () => true,
  only: (v: Value) => boolean = () => true,
) {
  const seen = new Set<string>();
  const checked = (v: Value) => ops.includes(v.op) && only(v);
  for (const [k, rank] of ranks.entries())
    for (const v of r.values) {
      if (!checked(v)) continue;
      const name = String(v.attrs['name']);
      expect(rank.params.has(name), `${what} rank ${k} holds ${name}`).toBe(holds(k, v));
      if (!holds(k, v)) continue;
      seen.add(name);
      const expected = heldOf(v, whole.get(name)!, at(k));
      expect(relErr(rank.params.get(name)!.data, expected.data), `${what} rank ${k} ${name}`).toBeLessThan(tolerance);
    }
  expect(seen.size, `${what}: leaves checked`).toBe(r.values.filter(checked).length);
}

/** `whole` with the partitioned program's gradient accumulators, zero (one device on the whole batch has none). */
export function withAccumulators(r: Module, whole: Map<string, NDArray>): Map<string, NDArray> {
  for (const v of r.values)
    if (v.op === 'state' && !whole.has(String(v.attrs['name']))) {
      const s = shardOf(v);
      const shape = (v.type.shape as number[]).map((d, i) => (i === s?.axis ? d * s.parts : d));
      whole.set(String(v.attrs['name']), { data: new Float32Array(shape.reduce((a, d) => a * d, 1)), shape });
    }
  return whole;
}
