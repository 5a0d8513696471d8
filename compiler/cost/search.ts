import type * as A from '../../grammar/ast.ts';
import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { bytesOf } from '../ir/op.ts';
import { lowerPlan } from '../lower/lower.ts';
import { pipelinePlan } from '../plan-pipeline.ts';
import type { PlanConfig, ResolvedPlan } from '../sema/plan.ts';
import type { Program } from '../sema/program.ts';
import { HALF } from '../passes/precision.ts';
import { allGather, allReduce, fabricOf, reduceScatter } from './collectives.ts';
import { machineOf, opPeak, type Machine } from './device.ts';
import { memoryTimeline } from './memory.ts';
import { inFlight, pipelineSeconds, type ScheduleKind, stashedBytes } from './pipeline.ts';
import { estimateStep } from './step.ts';
import { classOf, opTime } from './op-time.ts';
import { isAccumulateOp, isUpdateOp } from '../passes/optimizer.ts';
import { shardOf } from '../passes/partition-tensor.ts';
import { moeLayers } from './moe.ts';

/** One way to partition a training plan over its GPUs. */
export interface Candidate {
  tensor: number;
  sequence: boolean;
  pipeline: number;
  data: number;
  /** Expert parallelism: each MoE layer's experts split over groups of this many replicas (1: every rank all). */
  expert: number;
  zero: 0 | 1 | 3;
  micro: number;
  checkpoint: 'none' | 'all';
  schedule: { kind: ScheduleKind; chunks: number };
}

export interface Evaluated {
  candidate: Candidate;
  step_seconds: number;
  tokens_per_second: number;
  mfu: number;
  /** The fullest GPU's predicted peak, and whether every GPU's fits its memory (or the plan's budget). */
  peak_bytes: number;
  fits: boolean;
  /** Seconds of the step lost to the pipeline's fill and drain, to communication not hidden, to recomputation. */
  bubble_seconds: number;
  communication_seconds: number;
  recompute_seconds: number;
}

export interface SearchResult {
  /** The fastest partitions that fit, fastest first. */
  best: Evaluated[];
  considered: number;
  /** Why the others lost to the best: too big, or most of the difference in one place. */
  lost: Record<'memory' | 'bubble' | 'communication' | 'recomputation' | 'compute', number>;
  /** Layer profiles compiled (one per tensor width, sequence splitting, checkpointing and micro-batch). */
  profiles: number;
  /** The least peak any partition needs per GPU (what a budget must allow). */
  smallest: number;
  seconds: number;
}

/** A part of a profiled model (a layer, the embedding side, the head side): per micro-batch and per step. */
interface PartCost {
  forward: number;
  backward: number;
  /** Of the backward, what gradient accumulation adds each micro-batch (absent with one micro-batch a step). */
  accumulate: number;
  /** Of the update, accumulation's blends of every updated leaf (absent with one micro-batch a step). */
  blends: number;
  recompute: number;
  communication: number;
  update: number;
  flops: number;
  /** Model states by category (before ZeRO), the gradients' bytes reduced over data-parallel ranks. */
  parameters: number;
  gradients: number;
  optimizer: number;
  reduced: number;
  trained: number;
  /** Of the trained bytes, the experts' (the rank's share): ZeRO shards their states over the replicas holding them. */
  experts: number;
  stash: number;
}

interface Profile {
  layer: PartCost;
  embed: PartCost;
  head: PartCost;
  /** The activation crossing a stage boundary, and one micro-batch's working set beyond what it stashes. */
  boundary: number;
  transient: number;
}

const SUFFIX = /(\.grad|\.remat|\.update|\.accumulate|\.m|\.v|\.master)+$/;
const layerIndex = (name: string | undefined) => /(?:^|\.)layer(?:_\d+)?\.(\d+)\./.exec(name ?? '')?.[1];
const nameOf = (v: Value) => (LEAF_OPS.has(v.op) ? String(v.attrs['name']) : (v.name ?? ''));

/** A module of the values `keep` selects (a part's cost and memory; its operands from elsewhere are only types). */
function partOf(m: Module, keep: (v: Value) => boolean): Module {
  const values = m.values.filter(keep);
  const set = new Set(values);
  return {
    name: m.name,
    values,
    outputs: m.outputs.filter((o) => set.has(o.value)),
    updates: m.updates.filter((u) => set.has(u.value)),
  };
}

/** What a layer profile is compiled for. */
interface ProfileKey {
  tensor: number;
  sequence: boolean;
  expert: number;
  checkpoint: 'none' | 'all';
  micro: number;
}

/**
 * The search's model of a plan: its model compiled with two layers (`repeat` unrolled twice) through the whole pass
 * pipeline for one tensor width, sequence splitting, expert split, checkpointing and micro-batch, then costed by the
 * same roofline and memory model as `flexc plan` (cost/step.ts, cost/memory.ts), per layer (the mean of the two), the
 * embedding side and the head side; a partition's time and memory follow from L such layers.
 */
function profileOf(
  program: Program,
  decl: A.PlanDecl,
  r: ResolvedPlan,
  machine: Machine,
  { tensor, sequence, expert, checkpoint, micro }: ProfileKey,
): Profile | undefined {
  const split = { offload: [], tensor, ...(sequence ? { sequence } : {}), ...(expert > 1 ? { expert } : {}) };
  // compiled as `expert` replicas (expert parallelism splits over replicas), costed as one: the replicas' gradient
  // reduction is the partition's (evaluate)
  const config: PlanConfig = {
    ...r.config,
    memory: {},
    bind: { ...r.config.bind, B: micro },
    batch: { micro, global: 2 * micro * expert },
    checkpoint,
    parallel: { data: expert, zero: 0, ...split },
  };
  const low = lowerPlan(program, decl, { ...r, config }, { repeatLimit: 2 });
  if (!low.lowered) return undefined;
  const out = pipelinePlan(decl, low.lowered.forward, config, { hardware: low.lowered.hardware });
  const m = out.module;
  if (!m) return undefined;
  if (tensor > 1 && !m.values.some((v) => v.op === 'tp_reduce' || v.op === 'seq_reduce_scatter')) return undefined;
  // the embedding side: what the forward computes before the first layer, by name, in every phase
  const firstLayer = m.values.findIndex((v) => !LEAF_OPS.has(v.op) && layerIndex(v.name) !== undefined);
  const embedNames = new Set(
    m.values
      .slice(0, Math.max(0, firstLayer))
      .filter((v) => !LEAF_OPS.has(v.op))
      .flatMap((v) => [v.name ?? '', ...v.inputs.filter((x) => LEAF_OPS.has(x.op)).map(nameOf)])
      .map((n) => n.replace(SUFFIX, '')),
  );
  const inLayer = (v: Value) => layerIndex(nameOf(v)) !== undefined;
  const inEmbed = (v: Value) =>
    !inLayer(v) &&
    embedNames.has(
      nameOf(v)
        .replace(SUFFIX, '')
        .replace(/^grad:/, ''),
    );
  const one = { ...config, batch: { micro, global: 2 * micro }, parallel: { data: 1, zero: 0 as const, ...split } };
  const cost = (keep: (v: Value) => boolean, share: number): PartCost => {
    const part = partOf(m, keep);
    const e = estimateStep(part, one, machine);
    const states = [0, 1, 2, 3].map(
      (zero) =>
        memoryTimeline(part, { task: config.task, parallel: { data: 2, zero: zero as 0, offload: [] } }).gpu
          .model_states_bytes,
    );
    const grads = part.outputs.filter((o) => o.name.startsWith('grad:'));
    const seconds = (vs: Value[]) => vs.reduce((a, v) => a + opTime(v, machine.gpu).seconds, 0);
    const updated = new Set(part.updates.map((u) => u.value));
    const blend = (v: Value) => isUpdateOp(v) && classOf(v) !== 'optimizer' && !(v.op === 'cast' && updated.has(v));
    return {
      forward: (share * e.forward_seconds) / 2,
      backward: (share * e.backward_seconds) / 2,
      accumulate: share * seconds(part.values.filter(isAccumulateOp)),
      blends: share * seconds(part.values.filter(blend)),
      recompute: (share * e.recompute_seconds) / 2,
      communication: (share * e.by_class.communication) / 2,
      update: share * e.optimizer_seconds,
      flops: (share * e.flops.model) / 2,
      optimizer: share * 2 * (states[0]! - states[1]!),
      gradients: share * 2 * (states[1]! - states[2]!),
      parameters: share * 2 * (states[2]! - states[3]!),
      reduced: share * grads.reduce((a, o) => a + bytesOf(o.value.type), 0),
      trained: share * trainedBytes(part.values),
      experts: share * trainedBytes(part.values.filter((v) => shardOf(v)?.group === 'expert')),
      stash: share * stashedBytes(m, keep),
    };
  };
  const layer = cost(inLayer, 1 / 2);
  const embed = cost(inEmbed, 1);
  const head = cost((v) => !inLayer(v) && !inEmbed(v), 1);
  const tl = memoryTimeline(m, { task: config.task, parallel: config.parallel });
  const stashAll = 2 * layer.stash + embed.stash + head.stash;
  const boundaryValue = m.values.find((v) => layerIndex(v.name) === '1' && !LEAF_OPS.has(v.op));
  const boundary = boundaryValue ? bytesOf(boundaryValue.inputs.find((x) => !LEAF_OPS.has(x.op))!.type) : 0;
  return {
    layer,
    embed,
    head,
    boundary,
    transient: Math.max(0, tl.gpu.at_peak.activations + tl.gpu.at_peak.workspace - stashAll),
  };
}

const trainedBytes = (values: Value[]) =>
  values.filter((v) => v.op === 'param' && !v.attrs['frozen']).reduce((a, v) => a + bytesOf(v.type), 0);

/** A partition's step and memory from its layer profile: L layers over its pipeline, as cost/pipeline.ts times one. */
function evaluate(c: Candidate, p: Profile, cx: Context): Evaluated {
  const { layers, global, tokens, machine, budget, precision } = cx;
  const P = c.pipeline;
  const v = c.schedule.chunks;
  const M = global / (c.micro * c.data);
  const chunks = P * v;
  // layers per chunk as even as they go; rank q holds chunks q, q + P, …
  const perChunk = (k: number) => Math.floor(layers / chunks) + (k < layers % chunks ? 1 : 0);
  const p2p = fabricOf(machine, 2, c.tensor * c.data);
  const dp = fabricOf(machine, c.data, c.tensor);
  const ranks = [...Array(P).keys()].map((q) => {
    let n = 0;
    for (let k = q; k < chunks; k += P) n += perChunk(k);
    const parts = [{ part: p.layer, times: n }];
    if (q === 0) parts.push({ part: p.embed, times: 1 });
    if (q === P - 1) parts.push({ part: p.head, times: 1 });
    const sum = (f: (x: PartCost) => number) => parts.reduce((a, { part, times }) => a + times * f(part), 0);
    const sends = P > 1 ? 2 * v * (p.boundary / p2p.bandwidth + p2p.latency) : 0;
    // ZeRO-3 (FSDP, without a pipeline): each micro-batch gathers the rank's weights for the forward and again for
    // the backward and reduce-scatters its gradients, exposed (as cost/step.ts times them)
    const fsdp =
      c.zero === 3
        ? 2 *
            allGather(
              sum((x) => x.trained),
              dp,
            ) +
          reduceScatter(
            sum((x) => x.reduced),
            dp,
          )
        : 0;
    const accumulating = M > 1 ? 0 : sum((x) => x.accumulate); // one micro-batch a step accumulates nothing
    const time = sum((x) => x.forward + x.backward + x.recompute + x.communication) - accumulating + sends + fsdp;
    const grads = sum((x) => x.reduced);
    // the gradients' all-reduce (ZeRO-1: reduce-scatter) runs under the last micro-batch's backward pass, as
    // cost/step.ts overlaps it; ZeRO-1's all-gather of the updated weights follows the update
    const hidden = c.data <= 1 || c.zero === 3 ? 0 : c.zero === 0 ? allReduce(grads, dp) : reduceScatter(grads, dp);
    const gather =
      c.data > 1 && c.zero === 1
        ? allGather(
            sum((x) => x.trained),
            dp,
          )
        : 0;
    const reduce = Math.max(0, hidden - sum((x) => x.backward + x.recompute)) + gather;
    // under ZeRO each rank updates its shard of the states: 1/data of them, an expert's 1/(data/expert) (its holders)
    const experts =
      sum((x) => x.experts) /
      Math.max(
        1,
        sum((x) => x.trained),
      );
    const shard = (on: boolean) => (on ? (1 - experts) / c.data + (experts * c.expert) / c.data : 1);
    const update = (sum((x) => x.update) - (M > 1 ? 0 : sum((x) => x.blends))) * shard(c.zero >= 1) + reduce;
    // the model states (ZeRO-1 shards the optimizer's, ZeRO-3 all of them), and each micro-batch's gradients,
    // outputs of the step kept until its end beside their fp32 sums
    // (one micro-batch a step keeps no fp32 sums of the gradients; its gradients are counted as held, which one
    // micro-batch's update may free before the peak: the estimate errs above)
    const sums = M > 1 ? 1 : 0;
    const states =
      c.zero === 3
        ? sum((x) => x.parameters + sums * x.gradients + x.reduced + x.optimizer) * shard(true)
        : sum((x) => x.parameters + sums * x.gradients + x.reduced) + sum((x) => x.optimizer) * shard(c.zero >= 1);
    // one micro-batch's working set, and what each micro-batch in flight (its own included) keeps for its backward
    const peak = states + p.transient + inFlight(c.schedule.kind, P, q, v, M) * sum((x) => x.stash);
    return {
      time,
      update,
      peak,
      comm: M * (sum((x) => x.communication) + sends + fsdp) + reduce,
      recompute: M * sum((x) => x.recompute),
      flops: M * sum((x) => x.flops),
    };
  });
  const t = ranks.map((r) => r.time);
  const pipe = pipelineSeconds(t, M, v, c.schedule.kind);
  const step = pipe + Math.max(...ranks.map((r) => r.update));
  const slowest = ranks[t.indexOf(Math.max(...t))]!;
  const peak = Math.max(...ranks.map((r) => r.peak));
  const peakFlops = opPeak(machine.gpu, HALF[precision] ?? 'f32', precision === 'fp8');
  return {
    candidate: c,
    step_seconds: step,
    tokens_per_second: (global * tokens) / step,
    mfu: ranks.reduce((a, r) => a + r.flops, 0) / P / (step * peakFlops),
    peak_bytes: peak,
    fits: peak <= budget,
    bubble_seconds: pipe - M * Math.max(...t),
    communication_seconds: slowest.comm,
    recompute_seconds: slowest.recompute,
  };
}

/**
 * What every candidate of a plan shares: its hardware, layers, global batch, tokens per sequence, budget, and the
 * experts of its MoE layers (none: a dense model).
 */
interface Context {
  machine: Machine;
  layers: number;
  experts: number[];
  global: number;
  tokens: number;
  budget: number;
  precision: PlanConfig['precision'];
}

function contextOf(program: Program, decl: A.PlanDecl, r: ResolvedPlan): Context | undefined {
  const low = lowerPlan(program, decl, r, { repeatLimit: 2 });
  const machine = low.lowered?.hardware ? machineOf(low.lowered.hardware) : undefined;
  if (!low.lowered || !machine) return undefined;
  return {
    machine,
    layers: low.lowered.repeats?.[0] ?? 1,
    experts: moeLayers(low.lowered.forward).map((l) => l.experts),
    global: r.config.batch?.global ?? r.config.bind['B'] ?? 1,
    tokens: r.config.bind['T'] ?? 1,
    budget: r.config.memory.gpu ?? machine.gpu.memory,
    precision: r.config.precision,
  };
}

/** One partition as the search sees it (its profile compiled for it alone). */
export function evaluatePartition(
  program: Program,
  decl: A.PlanDecl,
  r: ResolvedPlan,
  c: Candidate,
): Evaluated | undefined {
  const cx = contextOf(program, decl, r);
  const prof = cx && profileOf(program, decl, r, cx.machine, { ...c });
  return cx && prof ? evaluate(c, prof, cx) : undefined;
}

const divisors = (n: number) => [...Array(n).keys()].map((i) => i + 1).filter((d) => n % d === 0);

/**
 * `parallel: auto` (as Calculon and Alpa search): every partition of the plan's GPUs into tensor × pipeline × data
 * ranks with sequence splitting or not, ZeRO 0 or 1 (and 3 without a pipeline), a micro-batch of 1, 2, 4 or 8,
 * checkpointing none or all, and 1F1B or interleaved(2) pipelines, timed and sized from layer profiles (profileOf);
 * the fastest that fits every GPU's memory (or the plan's `memory.gpu`) first. Tensor widths stop at a node's GPUs
 * (the fabric Megatron keeps them in) and at widths that split the model.
 */
export function searchPartitions(
  program: Program,
  decl: A.PlanDecl,
  r: ResolvedPlan,
  top = 5,
): SearchResult | undefined {
  const t0 = performance.now();
  const cx = contextOf(program, decl, r);
  if (!cx) return undefined;
  const { machine, layers, global, experts } = cx;
  const G = machine.count;
  const node = machine.node?.gpus ?? 8;
  const profiles = new Map<string, Profile | undefined>();
  const profile = (k: ProfileKey) => {
    const key = `${k.tensor}/${k.sequence}/${k.expert}/${k.checkpoint}/${k.micro}`;
    if (!profiles.has(key)) profiles.set(key, profileOf(program, decl, r, machine, k));
    return profiles.get(key);
  };
  // micro-batches beyond 2 scale the profiles of 1 and 2 (time and activations grow linearly in the batch)
  const scaled = (k: ProfileKey): Profile | undefined => {
    const b = k.micro;
    const one = profile({ ...k, micro: 1 });
    if (b === 1 || !one) return one;
    const two = profile({ ...k, micro: 2 });
    if (b === 2 || !two) return two;
    const at = (x: number, y: number) => x + (b - 1) * (y - x);
    const part = (a: PartCost, c: PartCost): PartCost => ({
      ...c,
      forward: at(a.forward, c.forward),
      backward: at(a.backward, c.backward),
      accumulate: c.accumulate,
      recompute: at(a.recompute, c.recompute),
      communication: at(a.communication, c.communication),
      flops: at(a.flops, c.flops),
      stash: at(a.stash, c.stash),
    });
    return {
      layer: part(one.layer, two.layer),
      embed: part(one.embed, two.embed),
      head: part(one.head, two.head),
      boundary: at(one.boundary, two.boundary),
      transient: at(one.transient, two.transient),
    };
  };
  const all: Evaluated[] = [];
  for (const t of divisors(G).filter((d) => d <= node))
    for (const s of t > 1 ? [false, true] : [false])
      for (const p of divisors(G / t).filter((d) => d <= layers)) {
        const d = G / (t * p);
        if (global % d) continue;
        for (const e of experts.length ? divisors(d).filter((x) => experts.every((n) => n % x === 0)) : [1])
          for (const b of [1, 2, 4, 8].filter((x) => (global / d) % x === 0))
            for (const ck of ['none', 'all'] as const) {
              const prof = scaled({ tensor: t, sequence: s, expert: e, checkpoint: ck, micro: b });
              if (!prof) continue;
              const M = global / (d * b);
              const schedules: Candidate['schedule'][] = [{ kind: '1f1b', chunks: 1 }];
              if (p > 1 && layers % (2 * p) === 0 && M % p === 0) schedules.push({ kind: 'interleaved', chunks: 2 });
              for (const schedule of schedules)
                for (const zero of p === 1 ? ([0, 1, 3] as const) : ([0, 1] as const)) {
                  if (zero && d === 1) continue;
                  const c = {
                    tensor: t,
                    sequence: s,
                    pipeline: p,
                    data: d,
                    expert: e,
                    zero,
                    micro: b,
                    checkpoint: ck,
                    schedule,
                  };
                  all.push(evaluate(c, prof, cx));
                }
            }
      }
  const fitting = all.filter((e) => e.fits).sort((a, b) => a.step_seconds - b.step_seconds);
  const best = fitting[0];
  const lost: SearchResult['lost'] = { memory: 0, bubble: 0, communication: 0, recomputation: 0, compute: 0 };
  for (const e of all) {
    if (!e.fits) lost.memory++;
    else if (e !== best && best) {
      const extra = {
        bubble: e.bubble_seconds - best.bubble_seconds,
        communication: e.communication_seconds - best.communication_seconds,
        recomputation: e.recompute_seconds - best.recompute_seconds,
      };
      const [why, by] = Object.entries(extra).sort((a, b) => b[1] - a[1])[0]!;
      lost[by > 0 ? (why as keyof typeof extra) : 'compute']++;
    }
  }
  return {
    best: fitting.slice(0, top),
    considered: all.length,
    lost,
    profiles: profiles.size,
    smallest: all.reduce((a, e) => Math.min(a, e.peak_bytes), Infinity),
    seconds: (performance.now() - t0) / 1000,
  };
}
