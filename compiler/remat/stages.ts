import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { getOp } from '../ir/ops/registry.ts';
import { allocatedBytes, tensorBytes } from '../codegen/memory.ts';

/** A training step's forward pass cut into a chain of stages at values that alone carry it forward. */
export interface Stages {
  /** Index of the loss in the module: values up to it are the forward pass. */
  lossIndex: number;
  /** Forward values computed from parameters and constants alone (no input data): kept, never recomputed. */
  constants: Set<Value>;
  /** Stage of each other forward value. */
  stageOf: Map<Value, number>;
  /** The values of each stage, in order. */
  members: Value[][];
  /** boundary[k]: the input of stage k (undefined for stage 0, whose inputs are leaves). */
  boundary: (Value | undefined)[];
  /** Forward values the backward pass (or anything after the loss) reads, by stage. */
  saved: Value[][];
  /** Forward FLOPs of each stage. */
  flops: number[];
}

/**
 * Finds the chain structure of the forward pass: a value is a cut when, in definition order, every
 * earlier non-constant forward value has its last forward use at or before it, so everything after
 * it depends on the earlier ones only through it (a transformer's residual stream between blocks,
 * a CNN's activations between layers). Constants and outputs are kept, never recomputed.
 */
export function findStages(m: Module, loss: Value, maxStages = 48): Stages {
  const lossIndex = m.values.indexOf(loss);
  const forward = m.values.slice(0, lossIndex + 1);
  const constants = new Set<Value>();
  for (const v of forward) if (!LEAF_OPS.has(v.op) && v.inputs.every((x) => x.op === 'param' || x.op === 'state' || constants.has(x))) constants.add(v);
  const body = forward.filter((v) => !LEAF_OPS.has(v.op) && !constants.has(v));
  const pos = new Map(body.map((v, i) => [v, i]));
  const lastUse = new Map<Value, number>();
  body.forEach((v, i) => v.inputs.forEach((x) => pos.has(x) && lastUse.set(x, i)));
  const cuts: boolean[] = [];
  let reach = -1;
  body.forEach((v, i) => {
    cuts.push(reach <= i && (lastUse.get(v) ?? -1) > i && i < body.length - 1);
    reach = Math.max(reach, lastUse.get(v) ?? -1);
  });
  // at most maxStages stages: a cut ends a stage once the stage has its share of the FLOPs
  const cost = body.map((v) => getOp(v.op).cost(v).flops);
  const share = cost.reduce((a, c) => a + c, 0) / maxStages;
  const members: Value[][] = [[]];
  const boundary: (Value | undefined)[] = [undefined];
  let acc = 0;
  body.forEach((v, i) => {
    members.at(-1)!.push(v);
    acc += cost[i]!;
    if (cuts[i] && acc >= share) {
      members.push([]);
      boundary.push(v);
      acc = 0;
    }
  });
  const stageOf = new Map<Value, number>();
  members.forEach((vs, k) => vs.forEach((v) => stageOf.set(v, k)));
  const outputs = new Set(m.outputs.map((o) => o.value));
  const savedSet = new Set<Value>();
  for (const v of m.values.slice(lossIndex + 1)) for (const x of v.inputs) if (stageOf.has(x) && !outputs.has(x)) savedSet.add(x);
  const saved = members.map((vs) => vs.filter((v) => savedSet.has(v)));
  const flops = members.map((vs) => vs.reduce((a, v) => a + getOp(v.op).cost(v).flops, 0));
  return { lossIndex, constants, stageOf, members, boundary, saved, flops };
}

/** Bytes of the values, as the arena allocates them. */
export const bytesOf = (vs: readonly Value[]) => vs.reduce((a, v) => a + allocatedBytes(tensorBytes(v)), 0);
