import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { bytesOf } from '../ir/op.ts';
import type { DType } from '../ir/types.ts';
import type { PlanConfig } from '../sema/plan.ts';
import { HALF } from '../passes/precision.ts';
import { allGather, allReduce, allToAll, reduceScatter, type Fabric } from './collectives.ts';
import { expertValues, moeLayers } from './moe.ts';
import { peakFor, type Machine } from './device.ts';
import { backwardValues } from './memory.ts';
import { classOf, opTime, type OpClass } from './op-time.ts';
import { moveSeconds, pathsOf, transferOf } from './transfer.ts';
import { REMAT_SUFFIX } from '../remat/emit.ts';

export const TIME_CLASSES = ['matmul', 'attention', 'elementwise', 'optimizer', 'communication', 'transfers'] as const;
export type TimeClass = (typeof TIME_CLASSES)[number];

export interface StepEstimate {
  step_seconds: number;
  /** The forward pass's ops: the first forward, recomputation not included. */
  forward_seconds: number;
  /** Forward ops run again for the backward pass (checkpointing's clones, `<name>.remat`). */
  recompute_seconds: number;
  backward_seconds: number;
  optimizer_seconds: number;
  /** Seconds each class adds to the step (communication and transfers: the part not hidden behind compute). */
  by_class: Record<TimeClass, number>;
  /** All collective time per step, hidden or not. */
  communication_seconds: number;
  transfer_seconds: number;
  /** FLOPs per GPU per step: executed (recomputation included) and the model's own. */
  flops: { executed: number; model: number };
  kernels: number;
  tokens_per_step?: number;
  samples_per_step: number;
  mfu: number;
  bottleneck: string;
}

/**
 * Step time of a scheduled module on a machine: every op by the roofline (op-time.ts), in program
 * order on one stream; data-parallel collectives by the ring model over the network, gradient
 * reduction hidden behind the backward pass and ZeRO-3's parameter gathers behind the pass that
 * needs them (as DDP and DeepSpeed bucket and prefetch); offload transfers over the GPU–host link, and copies
 * between tiers (offload, reload) on their path, hidden behind the compute of the pass that issues them.
 */
export function estimateStep(
  m: Module,
  config: Pick<PlanConfig, 'parallel' | 'precision' | 'task'>,
  machine: Machine,
): StepEstimate {
  const d = machine.gpu;
  const backward = backwardValues(m);
  const updates = new Set(m.updates.map((u) => u.value));
  const by: Record<TimeClass, number> = {
    matmul: 0,
    attention: 0,
    elementwise: 0,
    optimizer: 0,
    communication: 0,
    transfers: 0,
  };
  const bound: Record<string, number> = {};
  let fwd = 0;
  let rec = 0;
  let bwd = 0;
  let opt = 0;
  let executed = 0;
  let optimizerFlops = 0;
  let kernels = 0;
  // copies between tiers run on their link beside the compute of the pass that issues them
  const paths = pathsOf(machine);
  const seed = m.values.findIndex((v) => v.op === 'const' && v.name === 'loss.grad');
  const moved = { forward: 0, backward: 0 };
  m.values.forEach((v, i) => {
    const x = transferOf(v);
    if (x) moved[seed >= 0 && i > seed ? 'backward' : 'forward'] += moveSeconds(x.bytes, x.tier, x.down, paths);
  });
  // expert parallelism: a GPU updates, and reduces the gradients of, its own experts only
  const ep = config.parallel.expert ?? 1;
  const layers = ep > 1 ? moeLayers(m) : [];
  const experts = ep > 1 ? expertValues(m, layers) : new Set<Value>();
  for (const v of m.values) {
    if (LEAF_OPS.has(v.op) || transferOf(v)) continue;
    const whole = opTime(v, d);
    const updating = classOf(v) === 'optimizer' || (updates.has(v) && v.op === 'cast');
    const local = updating && v.inputs.some((x) => experts.has(x));
    const t = local ? { ...whole, seconds: whole.seconds / ep, flops: whole.flops / ep } : whole;
    const c = classOf(v) as Exclude<OpClass, 'transfer'>;
    by[c] += t.seconds;
    bound[`${c}:${t.bound}`] = (bound[`${c}:${t.bound}`] ?? 0) + t.seconds;
    executed += t.flops;
    if (c === 'optimizer') optimizerFlops += t.flops;
    if (t.seconds > 0) kernels++;
    if (c === 'optimizer' || (updates.has(v) && v.op === 'cast')) opt += t.seconds;
    else if (backward.has(v)) bwd += t.seconds;
    else if (v.name?.endsWith(REMAT_SUFFIX)) rec += t.seconds;
    else fwd += t.seconds;
  }
  // recomputation runs inside the backward pass: what the backward hides its traffic behind
  const bwdWindow = bwd + rec;
  const { data: n, zero, offload } = config.parallel;
  if (zero >= 1 && n > 1) {
    // each rank updates its shard of the parameters
    executed -= optimizerFlops * (1 - 1 / n);
    opt /= n;
    by.optimizer /= n;
  }
  const model = executed - (m.checkpoint?.recomputeFlops ?? 0);

  const grads = m.outputs
    .filter((o) => o.name.startsWith('grad:'))
    .reduce((a, o) => a + bytesOf(o.value.type) / (experts.has(o.value) ? ep : 1), 0);
  const params = m.values.filter((v) => v.op === 'param').reduce((a, v) => a + bytesOf(v.type), 0);
  const trained = m.values
    .filter((v) => v.op === 'param' && !v.attrs['frozen'])
    .reduce((a, v) => a + bytesOf(v.type), 0);
  const fabric: Fabric = {
    n,
    bandwidth: machine.network?.bandwidth ?? Infinity,
    latency: machine.network?.latency ?? 0,
  };
  let hiddenBwd = 0;
  let hiddenFwd = 0;
  let exposed = 0;
  if (config.task.kind !== 'infer' && n > 1) {
    if (zero === 0) hiddenBwd += allReduce(grads, fabric);
    else {
      hiddenBwd += reduceScatter(grads, fabric);
      if (zero < 3) exposed += allGather(trained, fabric); // updated parameters back to every rank
    }
    if (zero === 3) (hiddenFwd += allGather(params, fabric)), (hiddenBwd += allGather(params, fabric));
  }
  if (ep > 1) {
    // tokens to their experts and back (dispatch and combine), twice more for the gradients: all-to-all over the
    // group, on the critical path; a layer recomputed for the backward pass routes again
    const group: Fabric = { ...fabric, n: ep };
    const routes = m.values.filter((v) => v.op === 'moe_tokens').length;
    const perLayer = layers.length ? layers.reduce((a, l) => a + l.rowBytes, 0) / layers.length : 0;
    const passes = 2 * routes + (config.task.kind === 'train' ? 2 * layers.length : 0);
    exposed += passes * allToAll(perLayer, group);
  }
  const comm = hiddenBwd + hiddenFwd + exposed;
  by.communication = Math.max(0, hiddenBwd - bwdWindow) + Math.max(0, hiddenFwd - fwd) + exposed;

  const link = machine.link?.bandwidth ?? Infinity;
  const shard = (bytes: number, stage: number) => bytes / (zero >= stage ? n : 1);
  let transfers = 0;
  if (config.task.kind !== 'infer' && offload.includes('optimizer')) {
    // gradients down, updated half-precision parameters up; the host runs the optimizer over its shard
    const down = shard(grads, 1);
    const up = shard(trained, 1);
    const optimizerBytes = m.values
      .filter((v) => v.op === 'state' && !v.attrs['kv_cache'])
      .reduce((a, v) => a + bytesOf(v.type), 0);
    const hostBw = machine.host?.bandwidth ?? Infinity;
    const t = (down + up) / link + (2 * shard(optimizerBytes, 1) + down) / hostBw;
    transfers += t;
    by.transfers += t;
    by.optimizer = 0;
    opt = 0;
  }
  if (offload.includes('params')) {
    const t = shard(params, 3) / link;
    transfers += config.task.kind === 'infer' ? t : 2 * t;
    by.transfers += Math.max(0, t - fwd) + (config.task.kind === 'infer' ? 0 : Math.max(0, t - bwdWindow));
  }
  transfers += moved.forward + moved.backward;
  by.transfers += Math.max(0, moved.forward - fwd) + Math.max(0, moved.backward - bwdWindow);
  const step = fwd + rec + bwd + opt + by.communication + by.transfers;

  const tokens = m.values.find((v) => v.op === 'input' && v.attrs['name'] === 'tokens');
  const firstInput = m.values.find((v) => v.op === 'input' && v.attrs['feed'] !== 'step');
  const perRank = tokens ? (tokens.type.shape as number[]).reduce((a, x) => a * x, 1) : undefined;
  const samples = ((tokens ?? firstInput)?.type.shape[0] as number | undefined) ?? 1;
  const dtype: DType = HALF[config.precision] ?? 'f32';
  const mfu = step > 0 ? model / (step * peakFor(d, dtype)) : 0;
  const worst = TIME_CLASSES.reduce((a, c) => (by[c] > by[a] ? c : a), 'matmul' as TimeClass);
  const how = Object.entries(bound)
    .filter(([k]) => k.startsWith(`${worst}:`))
    .sort((a, b) => b[1] - a[1])[0]?.[0]
    .split(':')[1];
  const bottleneck =
    worst === 'communication'
      ? 'communication (data-parallel collectives)'
      : worst === 'transfers'
        ? 'transfers over the GPU–host link'
        : `${worst} (${how === 'compute' ? 'compute-bound' : how === 'memory' ? 'memory-bound' : 'launch-bound'})`;
  return {
    step_seconds: step,
    forward_seconds: fwd,
    recompute_seconds: rec,
    backward_seconds: bwd,
    optimizer_seconds: opt,
    by_class: by,
    communication_seconds: comm,
    transfer_seconds: transfers,
    flops: { executed, model },
    kernels,
    ...(perRank !== undefined ? { tokens_per_step: perRank * n } : {}),
    samples_per_step: samples * n,
    mfu,
    bottleneck,
  };
}
