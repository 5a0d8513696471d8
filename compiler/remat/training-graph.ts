import { LEAF_OPS, pinnedValues, type Module, type Value } from '../ir/graph.ts';
import { recomputeCost } from './cost.ts';
import { tierOf } from '../ir/ops/tier.ts';
import { earlyWrites, tensorBytes } from '../codegen/memory.ts';

/**
 * A training step as the rematerialization problem sees it (Checkmate, Jain et al. 2020): its ops
 * in a fixed topological order, each with a cost (recomputeCost) and the bytes of its result. Leaves
 * (inputs, parameters, state) on the GPU are held throughout and not part of it.
 */
export interface TrainingGraph {
  /** `forward`: up to the loss (an activation, which checkpointing may recompute). */
  nodes: { name: string; cost: number; bytes: number; deps: number[]; output: boolean; forward: boolean }[];
  /** Bytes of the leaves, held throughout. */
  leafBytes: number;
}

/** A schedule in Checkmate's stages: stage t computes node t after recomputing `stages[t]` (ascending, t included). */
export type StageSchedule = number[][];

export function trainingGraph(m: Module, loss: Value): { graph: TrainingGraph; index: Map<Value, number> } {
  const forward = new Set(m.values.slice(0, m.values.indexOf(loss) + 1));
  const ops = m.values.filter((v) => !LEAF_OPS.has(v.op));
  const index = new Map(ops.map((v, i) => [v, i]));
  // an update written back to host memory as it is made (earlyWrites) does not stay to the end
  const pinned = pinnedValues(m);
  for (const v of earlyWrites(m).keys()) pinned.delete(v);
  const nodes = ops.map((v) => ({
    forward: forward.has(v),
    name: v.name ?? v.op,
    cost: recomputeCost(v),
    bytes: tierOf(v) === 'gpu' ? tensorBytes(v) : 0, // an output's part copied to host memory as it is made
    deps: [...new Set(v.inputs.filter((x) => index.has(x)).map((x) => index.get(x)!))],
    output: pinned.has(v),
  }));
  // leaves waiting in host memory (placeInputs) take no GPU memory: their reloads are nodes
  const leafBytes = m.values
    .filter((v) => LEAF_OPS.has(v.op) && tierOf(v) === 'gpu')
    .reduce((a, v) => a + tensorBytes(v), 0);
  return { graph: { nodes, leafBytes }, index };
}

/**
 * The stage schedule of a rewritten step whose ops are each either one of the original's
 * (`origin`: new value → original) or a recomputation of one (`recomputed`): a recomputation
 * belongs to the stage of the next original op.
 */
export function stageScheduleOf(
  rewritten: Module,
  index: Map<Value, number>,
  origin: Map<Value, Value>,
  recomputed: Set<Value>,
): StageSchedule {
  const stages: StageSchedule = [];
  let pending: number[] = [];
  for (const v of rewritten.values) {
    if (LEAF_OPS.has(v.op)) continue;
    const o = origin.get(v) ?? v;
    const i = index.get(o);
    if (i === undefined) throw new Error(`stageScheduleOf: ${v.name ?? v.op} has no original`);
    if (!recomputed.has(v)) {
      stages[i] = [...new Set([...pending, i])].sort((a, b) => a - b);
      pending = [];
    } else pending.push(i);
  }
  // an op the rewritten step never runs in its place (all its readers read a recomputation, so it was dropped as
  // dead) still has its stage: Checkmate's stages compute every node once
  for (let i = 0; i < index.size; i++) stages[i] ??= [i];
  return stages;
}
