import type { Value } from '../ir/graph.ts';

/**
 * How a launch binds a value's operands: each distinct operand once, in order of first use, then the
 * result. All tensors live in one arena buffer bound as writable storage (WebGPU allows no mix of
 * read-only and writable bindings of one buffer in a dispatch), and writable bindings must not
 * overlap, so an op that reads one value twice (`x * x`) reads it through one binding.
 */
export interface Bindings {
  /** The distinct operands, in binding order. */
  operands: Value[];
  /** For each operand position, its binding. */
  slot: number[];
}

export function bindingsOf(v: Value): Bindings {
  const operands: Value[] = [];
  const slot = v.inputs.map((x) => {
    const at = operands.indexOf(x);
    if (at >= 0) return at;
    operands.push(x);
    return operands.length - 1;
  });
  return { operands, slot };
}
