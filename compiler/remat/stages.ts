import { LEAF_OPS, pinnedValues, type Module, type Value } from '../ir/graph.ts';
import { recomputeCost } from './cost.ts';
import { allocatedBytes, tensorBytes } from '../codegen/memory.ts';

/** A training step's forward pass cut into a chain of stages at frontiers that carry it forward. */
export interface Stages {
  /** Index of the loss in the module: values up to it are the forward pass. */
  lossIndex: number;
  /** Forward values computed from parameters and constants alone (no input data): kept, never recomputed. */
  constants: Set<Value>;
  /** Stage of each other forward value. */
  stageOf: Map<Value, number>;
  /** The values of each stage, in order. */
  members: Value[][];
  /**
   * boundary[k]: the input of stage k — the earlier values the rest of the forward pass still reads
   * (one value at a transformer's or ResNet's block boundary, several across skip connections);
   * empty for stage 0, whose inputs are leaves.
   */
  boundary: Value[][];
  /** Forward values the backward pass (or anything after the loss) reads, by stage. */
  saved: Value[][];
  /** Forward cost of each stage (recomputeCost). */
  cost: number[];
  /**
   * Bytes of everything but activations (gradients, optimizer temporaries) live while each
   * stage's backward reads its saved values, without checkpointing: what the backward of the
   * stage adds to the activations the schedule holds.
   */
  overhead: number[];
}

/** Fewer stages than this from one-value frontiers, and a long forward pass is cut by frontier size. */
const MIN_STAGES = 4;

/**
 * Finds the chain structure of the forward pass. After any op, in definition order, the values
 * computed so far that later forward ops still read (the frontier) carry everything after it, so
 * any op can end a stage. Forward passes of at most `maxStages` ops get a stage per op; longer ones
 * are cut once a stage has its share of the cost, where the frontier is one value (a transformer's
 * residual stream between blocks, a CNN's activations between layers) — or, when such places give
 * fewer than MIN_STAGES stages (a DAG whose skip connections cross everywhere), where the frontier
 * is at most its median size. Constants and outputs are kept, never recomputed.
 */
export function findStages(m: Module, loss: Value, maxStages = 48): Stages {
  const lossIndex = m.values.indexOf(loss);
  const forward = m.values.slice(0, lossIndex + 1);
  const constants = new Set<Value>();
  for (const v of forward)
    if (!LEAF_OPS.has(v.op) && v.inputs.every((x) => x.op === 'param' || x.op === 'state' || constants.has(x)))
      constants.add(v);
  const body = forward.filter((v) => !LEAF_OPS.has(v.op) && !constants.has(v));
  const pos = new Map(body.map((v, i) => [v, i]));
  const lastUse = new Map<Value, number>();
  body.forEach((v, i) => v.inputs.forEach((x) => pos.has(x) && lastUse.set(x, i)));
  const frontiers: Value[][] = [];
  let open: Value[] = [];
  body.forEach((v, i) => {
    open = [...open, v].filter((x) => (lastUse.get(x) ?? -1) > i);
    frontiers.push(open);
  });
  const frontierBytes = frontiers.map(bytesOf);
  const last = body.length - 1;
  const candidate = (i: number) => i < last && frontiers[i]!.length > 0;
  const cost = body.map(recomputeCost);
  const share = body.length <= maxStages ? 0 : cost.reduce((a, c) => a + c, 0) / maxStages;
  const cutWhere = (isCut: (i: number) => boolean) => {
    const members: Value[][] = [[]];
    const boundary: Value[][] = [[]];
    let acc = 0;
    body.forEach((v, i) => {
      members.at(-1)!.push(v);
      acc += cost[i]!;
      if (isCut(i) && acc >= share) {
        members.push([]);
        boundary.push(frontiers[i]!);
        acc = 0;
      }
    });
    return { members, boundary };
  };
  const byMedian = () => {
    const sorted = body
      .map((_, i) => i)
      .filter(candidate)
      .map((i) => frontierBytes[i]!)
      .sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    return cutWhere((i) => candidate(i) && frontierBytes[i]! <= median);
  };
  const cut = () => {
    if (body.length <= maxStages) return cutWhere(candidate);
    // a scalar beside the one value (a running sum of auxiliary losses) costs nothing to keep
    const bySingle = cutWhere((i) => candidate(i) && frontiers[i]!.filter((x) => x.type.shape.length > 0).length === 1);
    return bySingle.members.length >= MIN_STAGES ? bySingle : byMedian();
  };
  const { members, boundary } = cut();
  const stageOf = new Map<Value, number>();
  members.forEach((vs, k) => vs.forEach((v) => stageOf.set(v, k)));
  const outputs = new Set(m.outputs.map((o) => o.value));
  const savedSet = new Set<Value>();
  for (const v of m.values.slice(lossIndex + 1))
    for (const x of v.inputs) if (stageOf.has(x) && !outputs.has(x)) savedSet.add(x);
  const saved = members.map((vs) => vs.filter((v) => savedSet.has(v)));
  const stageCost = members.map((vs) => vs.reduce((a, v) => a + cost[pos.get(v)!]!, 0));
  // only the auto policy's solvers read it
  let overhead: number[] | undefined;
  return {
    lossIndex,
    constants,
    stageOf,
    members,
    boundary,
    saved,
    cost: stageCost,
    get overhead() {
      return (overhead ??= backwardOverhead(m, lossIndex, stageOf, saved));
    },
  };
}

function backwardOverhead(m: Module, lossIndex: number, stageOf: Map<Value, number>, saved: Value[][]): number[] {
  const pinned = pinnedValues(m);
  const lastUse = new Map<Value, number>();
  m.values.forEach((v, i) => v.inputs.forEach((x) => lastUse.set(x, i)));
  const other: number[] = [];
  let live = 0;
  m.values.forEach((v, i) => {
    if (!LEAF_OPS.has(v.op) && !stageOf.has(v)) live += bytesOf([v]);
    other.push(live);
    for (const x of new Set(v.inputs))
      if (lastUse.get(x) === i && !pinned.has(x) && !LEAF_OPS.has(x.op) && !stageOf.has(x)) live -= bytesOf([x]);
  });
  const readers = new Map<Value, number[]>();
  m.values.forEach((v, i) => {
    if (i > lossIndex)
      for (const x of v.inputs) {
        if (!stageOf.has(x)) continue;
        const at = readers.get(x);
        if (at) at.push(i);
        else readers.set(x, [i]);
      }
  });
  return saved.map((vs) => {
    const at = vs.flatMap((v) => readers.get(v) ?? []);
    if (at.length === 0) return 0;
    let most = 0;
    for (let i = Math.min(...at); i <= Math.max(...at); i++) most = Math.max(most, other[i]!);
    return most;
  });
}

/** Bytes of the values, as the arena allocates them. */
export const bytesOf = (vs: readonly Value[]) => vs.reduce((a, v) => a + allocatedBytes(tensorBytes(v)), 0);
