import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { bytesOf, elems } from '../ir/op.ts';
import type { DType } from '../ir/types.ts';
import { accumulationOf, type PlanConfig } from '../sema/plan.ts';
import { HALF } from '../passes/precision.ts';
import { allGather, allReduce, allToAll, fabricOf, reduceScatter, type Fabric } from './collectives.ts';
import { expertValues } from './moe.ts';
import { opPeak, type Machine } from './device.ts';
import { backwardValues } from './memory.ts';
import { classOf, opTime, type OpClass } from './op-time.ts';
import { moveSeconds, pathsOf, transferOf } from './transfer.ts';
import { REMAT_SUFFIX } from '../remat/emit.ts';
import { isAccumulateOp, isUpdateOp } from '../passes/optimizer.ts';

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
 * reduction hidden behind the backward pass (as DDP and DeepSpeed bucket it) but ZeRO-3's gathers and
 * reduce-scatters exposed: FSDP limits its prefetch to one layer's gather and its collectives share the GPU's SMs and
 * memory with the compute they would overlap (MosaicML's FSDP runs on 8 H100s, test/cost/published.test.ts, fit
 * within 7% so; hidden, the 13B run would be overpredicted by a third); offload transfers over the GPU–host link,
 * and copies between tiers (offload, reload) on their path, hidden behind the compute of the pass that issues them.
 */
export function estimateStep(
  m: Module,
  config: Pick<PlanConfig, 'parallel' | 'precision' | 'task' | 'batch'>,
  machine: Machine,
): StepEstimate {
  // gradient accumulation: a step is k runs of the module, one per micro-batch, and one update (the update's ops,
  // named `.update`, run in each run of the module but count once, as a framework's optimizer step does)
  const k = accumulationOf(config);
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
  let onceFlops = 0;
  const once = { ...by };
  let kernels = 0;
  // copies between tiers run on their link beside the compute of the pass that issues them
  const paths = pathsOf(machine);
  const seed = m.values.findIndex((v) => v.op === 'const' && v.name === 'loss.grad');
  const moved = { forward: 0, backward: 0 };
  m.values.forEach((v, i) => {
    const x = transferOf(v);
    if (x) moved[seed >= 0 && i > seed ? 'backward' : 'forward'] += moveSeconds(x.bytes, x.tier, x.down, paths);
  });
  // expert parallelism: the module updates the rank's experts only (partition-expert); ZeRO shards an expert's
  // states over the replicas holding it
  const ep = config.parallel.expert ?? 1;
  const experts = ep > 1 ? expertValues(m) : new Set<Value>();
  for (const v of m.values) {
    if (LEAF_OPS.has(v.op) || transferOf(v)) continue;
    const whole = opTime(v, d);
    const updating = classOf(v) === 'optimizer' || (updates.has(v) && v.op === 'cast') || (k > 1 && isUpdateOp(v));
    const local = updating && v.inputs.some((x) => experts.has(x));
    // each rank runs the optimizer on its shard under ZeRO; ZeRO-2/3 add each micro-batch's reduced gradient shard
    // to the rank's fp32 sums: 1/n of them; under ZeRO the accumulated update's blends run on the rank's shard
    const { zero: z, data: dp } = config.parallel;
    const sharded =
      (z >= 1 && dp > 1 && classOf(v) === 'optimizer') ||
      (k > 1 && ((z >= 2 && isAccumulateOp(v)) || (z >= 1 && isUpdateOp(v) && classOf(v) !== 'optimizer')));
    const part = sharded ? (local ? dp / ep : dp) : 1;
    const t = part > 1 ? { ...whole, seconds: whole.seconds / part, flops: whole.flops / part } : whole;
    const c = classOf(v) as Exclude<OpClass, 'transfer'>;
    (updating ? once : by)[c] += t.seconds;
    bound[`${c}:${t.bound}`] = (bound[`${c}:${t.bound}`] ?? 0) + t.seconds * (updating ? 1 : k);
    executed += t.flops;
    if (updating) onceFlops += t.flops;
    if (t.seconds > 0) kernels++;
    if (updating) opt += t.seconds;
    else if (backward.has(v)) bwd += t.seconds;
    else if (v.name?.endsWith(REMAT_SUFFIX)) rec += t.seconds;
    else fwd += t.seconds;
  }
  // recomputation runs inside the backward pass: what the backward hides its traffic behind
  const bwdWindow = bwd + rec;
  const { data: n, zero, offload } = config.parallel;
  for (const c of TIME_CLASSES) by[c] = k * by[c] + once[c];
  executed = k * (executed - onceFlops) + onceFlops;
  const model = executed - k * (m.checkpoint?.recomputeFlops ?? 0);

  const grads = m.outputs.filter((o) => o.name.startsWith('grad:')).reduce((a, o) => a + bytesOf(o.value.type), 0);
  const params = m.values.filter((v) => v.op === 'param').reduce((a, v) => a + bytesOf(v.type), 0);
  const trained = m.values
    .filter((v) => v.op === 'param' && !v.attrs['frozen'])
    .reduce((a, v) => a + bytesOf(v.type), 0);
  const tensor = config.parallel.tensor ?? 1;
  const fabric: Fabric = fabricOf(machine, n, tensor);
  // per micro-batch (ZeRO-3's gathers and reduce-scatters, ZeRO-2's reduce-scatter of each micro-batch's gradients)
  // or once a step (DDP's all-reduce and ZeRO-1's reduce-scatter after the last micro-batch, ZeRO-1/2's all-gather
  // of the updated parameters)
  let hiddenBwd = 0;
  let hiddenBwdOnce = 0;
  let exposed = 0;
  let exposedOnce = 0;
  if (config.task.kind !== 'infer' && n > 1) {
    if (zero === 0) hiddenBwdOnce += allReduce(grads, fabric);
    else if (zero === 3)
      // full sharding (FSDP, ZeRO-3): the weights gathered for the forward and again for the backward, the gradients
      // reduce-scattered, on the critical path (see above)
      exposed += 2 * allGather(params, fabric) + reduceScatter(grads, fabric);
    else {
      if (zero === 2) hiddenBwd += reduceScatter(grads, fabric);
      else hiddenBwdOnce += reduceScatter(grads, fabric);
      exposedOnce += allGather(trained, fabric); // updated parameters back to every rank
    }
  }
  if (ep > 1) {
    // tokens to their experts and back (dispatch and combine, and their gradients; again where a layer is
    // recomputed): all-to-all over the group, on the critical path
    const group: Fabric = fabricOf(machine, ep, tensor);
    for (const v of m.values) if (v.op === 'ep_all_to_all') exposed += allToAll(bytesOf(v.type), group);
  }
  // tensor parallelism: each layer's all-reduce (forward, and of its input's gradient) over the tensor group, or with
  // sequence parallelism its all-gather and reduce-scatter (the same volume), where the next op waits for it
  // (Megatron's are synchronous)
  if (tensor > 1) {
    const group: Fabric = fabricOf(machine, tensor);
    // a whole parameter's gradient summed over the ranks (a norm's under sequence parallelism) is bucketed and hidden
    // behind the backward pass, as the data-parallel gradients are
    const gradients = new Set(m.outputs.filter((o) => o.name.startsWith('grad:')).map((o) => o.value));
    const bucket = m.values.filter((v) => v.op === 'tp_reduce' && gradients.has(v));
    if (bucket.length)
      hiddenBwdOnce += allReduce(
        bucket.reduce((a, v) => a + bytesOf(v.type), 0),
        group,
      );
    for (const v of m.values)
      if (v.op === 'tp_reduce' && !gradients.has(v)) exposed += allReduce(bytesOf(v.type), group);
      else if (v.op === 'seq_reduce_scatter') exposed += reduceScatter(bytesOf(v.inputs[0]!.type), group);
      else if (v.op === 'seq_gather' || v.op === 'seq_gather_tp') exposed += allGather(bytesOf(v.type), group);
      // vocabulary parallelism: the embedding's all-reduce; each row's maximum, sum and target logit (the gradient:
      // the first two again), fp32
      else if (v.op === 'vp_embed') exposed += allReduce(bytesOf(v.type), group);
      else if (v.op === 'vp_cross_entropy' || v.op === 'vp_cross_entropy_grad')
        exposed += allReduce((v.op === 'vp_cross_entropy' ? 3 : 2) * 4 * elems(v.inputs[1]!.type), group);
  }
  const comm = k * (hiddenBwd + exposed) + hiddenBwdOnce + exposedOnce;
  const microComm = (last: boolean) => Math.max(0, hiddenBwd + (last ? hiddenBwdOnce : 0) - bwdWindow) + exposed;
  by.communication = (k - 1) * microComm(false) + microComm(true) + exposedOnce;

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
    transfers += k * (config.task.kind === 'infer' ? t : 2 * t);
    by.transfers += k * (Math.max(0, t - fwd) + (config.task.kind === 'infer' ? 0 : Math.max(0, t - bwdWindow)));
  }
  transfers += k * (moved.forward + moved.backward);
  by.transfers += k * (Math.max(0, moved.forward - fwd) + Math.max(0, moved.backward - bwdWindow));
  const step = k * (fwd + rec + bwd) + opt + by.communication + by.transfers;

  const tokens = m.values.find((v) => v.op === 'input' && v.attrs['name'] === 'tokens');
  const firstInput = m.values.find(
    (v) => v.op === 'input' && v.attrs['feed'] !== 'step' && v.attrs['feed'] !== 'last_micro',
  );
  const perRank = tokens ? (tokens.type.shape as number[]).reduce((a, x) => a * x, 1) : undefined;
  const samples = ((tokens ?? firstInput)?.type.shape[0] as number | undefined) ?? 1;
  const dtype: DType = HALF[config.precision] ?? 'f32';
  // an FP8 plan's utilisation is of the fp8 peak, as llm-foundry's FP8 table reports it
  const mfu = step > 0 ? model / (step * opPeak(d, dtype, config.precision === 'fp8')) : 0;
  const worst = TIME_CLASSES.reduce((a, c) => (by[c] > by[a] ? c : a), 'matmul' as TimeClass);
  const how = Object.entries(bound)
    .filter(([k]) => k.startsWith(`${worst}:`))
    .sort((a, b) => b[1] - a[1])[0]?.[0]
    .split(':')[1];
  const bottleneck =
    worst === 'communication'
      ? `communication (${tensor > 1 ? 'tensor- and data-parallel' : 'data-parallel'} collectives)`
      : worst === 'transfers'
        ? 'transfers over the GPU–host link'
        : `${worst} (${how === 'compute' ? 'compute-bound' : how === 'memory' ? 'memory-bound' : 'launch-bound'})`;
  return {
    step_seconds: step,
    forward_seconds: k * fwd,
    recompute_seconds: k * rec,
    backward_seconds: k * bwd,
    optimizer_seconds: opt,
    by_class: by,
    communication_seconds: comm,
    transfer_seconds: transfers,
    flops: { executed, model },
    kernels,
    ...(perRank !== undefined ? { tokens_per_step: perRank * n * k } : {}),
    samples_per_step: samples * n * k,
    mfu,
    bottleneck,
  };
}
