import type { LeafOp, OpName } from './op-names.ts';
import type { Span } from '../../grammar/diagnostics.ts';
import type { TensorType } from './types.ts';

export type AttrValue = number | string | boolean | number[];
export type Attrs = Record<string, AttrValue>;

/** The source span a value came from (end exclusive). */
export interface Loc {
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}
export const locOf = (s: Span): Loc => ({
  file: s.file,
  line: s.line,
  column: s.column,
  endLine: s.endLine,
  endColumn: s.endColumn,
});

/** One SSA value: the result of one op. Leaf ops (`input`, `param`, `state`) carry their name in attrs.name. */
export interface Value {
  id: number;
  op: OpName | LeafOp;
  inputs: Value[];
  attrs: Attrs;
  type: TensorType;
  /** The name path, e.g. `layer.3.mlp.h`. */
  name?: string;
  loc?: Loc;
}

/** A part's range along the first axis of the whole it belongs to: [first row, end row). */
export type Rows = readonly [number, number];

export interface Module {
  name: string;
  /** Values in topological (definition) order. */
  values: Value[];
  /**
   * The step's results by name. An output given in parts (`rows`: each part's first-axis range, together covering the
   * whole) is assembled where it lands (in host memory, off the GPU).
   */
  outputs: { name: string; value: Value; rows?: Rows }[];
  /** End-of-step writes to a `param` or `state` leaf, by name; in parts, each writes its `rows` of the leaf. */
  updates: { target: string; value: Value; rows?: Rows }[];
  /** What the checkpoint pass decided (not part of the IR text). */
  checkpoint?: CheckpointReport;
}

/** Memory and recompute of a plan's checkpointing: arena bytes without and with it, recomputed FLOPs. */
export interface CheckpointReport {
  policy: string;
  /**
   * With auto and a schedule: the solver that found it (the chain DP, the resident-set DP, the
   * keep-or-recompute-once greedy, the sweep of moves, or selective recomputation of the attention cores).
   */
  solver?: 'chain' | 'resident-sets' | 'greedy' | 'sweep' | 'selective';
  /** Stages of the forward chain the schedule works on. */
  stages: number;
  /**
   * What the bytes measure and the budget bounds: `arena`, the single-GPU arena the build allocates
   * (planMemory); `per-gpu`, with data parallelism or offload, one rank's peak in the cost model's
   * memory timeline (ZeRO shards and offloaded state left out).
   */
  measured: 'arena' | 'per-gpu';
  bytesWithout: number;
  bytesWith: number;
  recomputeFlops: number;
  /** FLOPs of the whole training step without recomputation. */
  stepFlops: number;
  /**
   * Activations placed in host memory or on the SSD (placement): the placement asked for, each tier's arena, and
   * how many activations wait there.
   */
  tiers?: { placement: string; host: number; ssd: number; offloaded: number };
}

export const LEAF_OPS: ReadonlySet<string> = new Set<LeafOp>(['input', 'param', 'state']);
export const leafName = (v: Value): string => String(v.attrs['name']);

/** Each value's readers, one entry per operand that reads it (an op reading it twice is there twice). */
export function usersOf(m: Module): Map<Value, Value[]> {
  const users = new Map<Value, Value[]>();
  for (const v of m.values)
    for (const x of v.inputs) {
      const us = users.get(x);
      if (us) us.push(v);
      else users.set(x, [v]);
    }
  return users;
}

/** The shape of an output: its value's, or for one given in parts, the whole they make. */
export function outputShape(m: Module, name: string): number[] {
  const parts = m.outputs.filter((o) => o.name === name);
  const shape = [...(parts[0]!.value.type.shape as number[])];
  if (parts[0]!.rows) shape[0] = parts.at(-1)!.rows![1];
  return shape;
}

/** The values a step hands back (outputs and updates): never freed, never fused away. */
export const pinnedValues = (m: Module): Set<Value> =>
  new Set([...m.outputs.map((o) => o.value), ...m.updates.map((u) => u.value)]);

/** Drops values no output or update needs. */
export function deadCodeEliminate(m: Module): Module {
  const live = new Set<Value>();
  const stack = [...pinnedValues(m)];
  while (stack.length) {
    const v = stack.pop()!;
    if (live.has(v)) continue;
    live.add(v);
    stack.push(...v.inputs);
  }
  return { ...m, values: m.values.filter((v) => live.has(v) || v.op === 'param' || v.op === 'state') };
}
