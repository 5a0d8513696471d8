import { expertValues } from './moe.ts';
import { LEAF_OPS, pinnedValues, type Module, type Value } from '../ir/graph.ts';
import { rootOf } from '../codegen/memory.ts';
import { bytesOf, storedBytes } from '../ir/op.ts';
import { OPTIMIZER_OPS } from '../ir/ops/optimizer.ts';
import { tierOf } from '../ir/ops/tier.ts';
import type { PlanConfig } from '../sema/plan.ts';
import { isAccumulateOp, isGradSum, isUpdateOp } from '../passes/optimizer.ts';

export const CATEGORIES = ['parameters', 'gradients', 'optimizer', 'activations', 'kv_cache', 'workspace'] as const;
export type Category = (typeof CATEGORIES)[number];
export type Breakdown = Record<Category, number>;

/**
 * Updates written into their leaf in place: the optimizer's, the cast back to a half-precision parameter, KV-cache
 * writes.
 */
const IN_PLACE = new Set([...OPTIMIZER_OPS, 'cast', 'cache_write']);
const zero = (): Breakdown => ({
  parameters: 0,
  gradients: 0,
  optimizer: 0,
  activations: 0,
  kv_cache: 0,
  workspace: 0,
});
const total = (b: Breakdown) => CATEGORIES.reduce((a, c) => a + b[c], 0);

export interface TierMemory {
  peak_bytes: number;
  /** Each category at the moment of the peak. */
  at_peak: Breakdown;
  /** Parameters, gradients and optimizer state with every gradient counted (ZeRO's "model states"). */
  model_states_bytes: number;
}

export interface MemoryTimeline {
  gpu: TierMemory;
  /** Host memory: offloaded model states throughout, and at its peak the activations placement put there. */
  host: TierMemory;
  /** The SSD tier: the activations placement put there, at their peak. */
  ssd: TierMemory;
  /** GPU bytes per category after each op, in program order (for the memory picture). */
  points: Breakdown[];
  /** Host memory and SSD bytes placement holds after each op (leaves kept in host memory, placed activations). */
  tierPoints: { host: number; ssd: number }[];
  /** Index in `points` where the backward pass starts (undefined for inference). */
  backwardAt?: number;
}

/**
 * Values written into their leaf in place (no memory of their own): updates by the optimizer's ops, casts and cache
 * writes, and an accumulating step's sums and blends (as a fused optimizer adds and updates).
 */
export function writtenInPlace(m: Module): (v: Value) => boolean {
  const updates = new Set(m.updates.map((u) => u.value));
  const accumulates = m.values.some(isGradSum);
  return (v) => (updates.has(v) && IN_PLACE.has(v.op)) || (accumulates && (isAccumulateOp(v) || isUpdateOp(v)));
}

/** A value a pipeline stage receives (ir/stages.ts): made when it arrives and freed after its last use. */
const isReceived = (v: Value) => v.op === 'input' && v.attrs['recv'] === true;

/**
 * The values of the backward pass and the updates: everything downstream of the loss's seed gradient (or, on a
 * pipeline stage before the last, of the gradients it receives).
 */
export function backwardValues(m: Module): Set<Value> {
  const seeds = m.values.filter(
    (v) => (v.op === 'const' && v.name === 'loss.grad') || (v.op === 'input' && v.attrs['backward'] === true),
  );
  const backward = new Set<Value>(seeds);
  for (const v of m.values) if (v.inputs.some((x) => backward.has(x))) backward.add(v);
  return backward;
}

/**
 * Memory per tier over a scheduled step, from its IR: leaves are held throughout, a value from its
 * op to its last reader, outputs to the end; optimizer updates write their leaf in place. Values are
 * sorted into categories; data parallelism with ZeRO divides the sharded categories by the group size
 * (stage 1: optimizer state, 2: + gradients, 3: + parameters, which are gathered op by op into
 * workspace) and offload moves optimizer state (and master weights) or parameters to the host.
 * With `points: false`, only the peaks (no per-op points for the picture).
 */
export function memoryTimeline(
  m: Module,
  config: Pick<PlanConfig, 'parallel' | 'task'>,
  opts: { points?: boolean } = {},
): MemoryTimeline {
  const { data: n, zero: stage, offload } = config.parallel;
  // a part has no memory of its own: its packed value holds it (as a gradient when its parts are), while any lives
  const gradOf = new Set(m.outputs.filter((o) => o.name.startsWith('grad:')).map((o) => rootOf(o.value)));
  const pinned = pinnedValues(m);
  for (const v of [...pinned]) pinned.add(rootOf(v));
  const accumulates = m.values.some(isGradSum);
  const inPlace = writtenInPlace(m);
  const transient = (v: Value) => accumulates && !LEAF_OPS.has(v.op);
  const backward = backwardValues(m);
  const leafCategory = (v: Value): Category => {
    if (v.op === 'param') return 'parameters';
    if (v.op === 'input') return 'activations';
    if (isGradSum(v)) return 'gradients'; // an accumulator of micro-batches' gradients
    return v.attrs['kv_cache'] ? 'kv_cache' : 'optimizer';
  };
  const category = (v: Value): Category | undefined => {
    if (isReceived(v)) return backward.has(v) ? 'workspace' : 'activations';
    // a pipeline stage's send allocates nothing on the stage: what it sends lives on the stage receiving it
    if (v.op === 'pp_send' && v.attrs['sending']) return undefined;
    if (LEAF_OPS.has(v.op)) return leafCategory(v);
    if (tierOf(v) !== 'gpu') return undefined; // placed in host memory or on the SSD (counted there)
    if (inPlace(v)) return undefined;
    if (gradOf.has(v)) return 'gradients';
    return backward.has(v) || v.op === 'scratch' ? 'workspace' : 'activations';
  };
  const sharded = (c: Category) =>
    (c === 'optimizer' && stage >= 1) || (c === 'gradients' && stage >= 2) || (c === 'parameters' && stage >= 3);
  // expert parallelism over groups of `ep`: the module holds the rank's experts already (partition-expert); ZeRO
  // shards an expert's states over the n/ep replicas holding it
  const ep = config.parallel.expert ?? 1;
  const experts = ep > 1 ? expertValues(m) : new Set<Value>();
  const replicas = (v?: Value) => (v && experts.has(v) ? n / ep : n);
  const share = (c: Category, v?: Value) => (offloaded(c) ? 0 : sharded(c) ? 1 / replicas(v) : 1);
  const offloaded = (c: Category) =>
    (c === 'optimizer' && offload.includes('optimizer')) || (c === 'parameters' && offload.includes('params'));
  const hostShare = (c: Category, v?: Value) =>
    offloaded(c) ? (stage >= (c === 'optimizer' ? 1 : 3) ? 1 / replicas(v) : 1) : 0;

  const live = zero();
  const host = zero();
  const states = zero();
  const lastUse = new Map<Value, number>();
  m.values.forEach((v, i) => v.inputs.forEach((x) => lastUse.set(rootOf(x), i)));
  for (const v of m.values) {
    const c = category(v);
    if (!c || isReceived(v)) continue;
    const b = storedBytes(v);
    // under accumulation a micro-batch's gradient is only added to its fp32 sum (a leaf): not a model state
    if ((c === 'parameters' || c === 'optimizer' || c === 'gradients') && !(c === 'gradients' && transient(v)))
      states[c] += b * share(c, v);
    if (LEAF_OPS.has(v.op) && tierOf(v) !== 'gpu')
      host[c] += b; // a leaf kept in host memory
    else if (LEAF_OPS.has(v.op)) {
      live[c] += b * share(c, v);
      host[c] += b * hostShare(c, v);
    }
  }
  const points: Breakdown[] = [];
  const gpu: TierMemory = { peak_bytes: total(live), at_peak: { ...live }, model_states_bytes: 0 };
  let backwardAt: number | undefined;
  const placed = { host: 0, ssd: 0 };
  const hostLeaves = m.values.reduce((a, v) => a + (LEAF_OPS.has(v.op) && tierOf(v) !== 'gpu' ? storedBytes(v) : 0), 0);
  const tierPoints: { host: number; ssd: number }[] = [];
  const placedPeak = { host: 0, ssd: 0 };
  m.values.forEach((v, i) => {
    if (LEAF_OPS.has(v.op) && !isReceived(v)) return;
    const t = tierOf(v);
    if (t !== 'gpu') (placed[t] += bytesOf(v.type)), (placedPeak[t] = Math.max(placedPeak[t], placed[t]));
    for (const x of new Set(v.inputs)) {
      const tx = tierOf(x);
      if (tx !== 'gpu' && lastUse.get(x) === i) placed[tx] -= storedBytes(x);
    }
    const c = v.op === 'part' ? undefined : category(v);
    if (c) live[c] += bytesOf(v.type) * share(c, v);
    // ZeRO-3 (or offloaded parameters): the parameters an op reads are gathered for it
    const gathered =
      stage >= 3 || offload.includes('params')
        ? v.inputs.filter((x) => x.op === 'param').reduce((a, x) => a + storedBytes(x) * (1 - share('parameters')), 0)
        : 0;
    live.workspace += gathered;
    if (backwardAt === undefined && backward.has(v)) backwardAt = points.length;
    if (opts.points !== false)
      points.push({ ...live }), tierPoints.push({ host: hostLeaves + placed.host, ssd: placed.ssd });
    if (total(live) > gpu.peak_bytes) (gpu.peak_bytes = total(live)), (gpu.at_peak = { ...live });
    live.workspace -= gathered;
    for (const x of new Set(v.inputs.map(rootOf))) {
      if (lastUse.get(x) !== i || pinned.has(x) || (LEAF_OPS.has(x.op) && !isReceived(x))) continue;
      const cx = category(x);
      if (cx) live[cx] -= bytesOf(x.type) * share(cx, x);
    }
  });
  gpu.model_states_bytes = states.parameters + states.gradients + states.optimizer;
  const states0 = total(host);
  host.activations += placedPeak.host;
  const hostTier: TierMemory = { peak_bytes: total(host), at_peak: { ...host }, model_states_bytes: states0 };
  const ssd: TierMemory = {
    peak_bytes: placedPeak.ssd,
    at_peak: { ...zero(), activations: placedPeak.ssd },
    model_states_bytes: 0,
  };
  return { gpu, host: hostTier, ssd, points, tierPoints, ...(backwardAt !== undefined ? { backwardAt } : {}) };
}
