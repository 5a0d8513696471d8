import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { REMAT_SUFFIX } from '../remat/emit.ts';
import { bytesOf } from '../ir/op.ts';
import { stageModule, type Stages } from '../ir/stages.ts';
import { accumulationOf, type PlanConfig } from '../sema/plan.ts';
import { allGather, allReduce, fabricOf, reduceScatter } from './collectives.ts';
import { opPeak, type Machine } from './device.ts';
import { backwardValues, type Breakdown, CATEGORIES, memoryTimeline } from './memory.ts';
import { estimateStep, TIME_CLASSES, type StepEstimate } from './step.ts';
import { HALF } from '../passes/precision.ts';

/** A pipeline rank's memory: its stages' own peak for one micro-batch and what the micro-batches in flight keep. */
export interface RankMemory {
  /** Micro-batches whose activations the schedule keeps at once (1F1B: P − p; GPipe: all of them). */
  in_flight: number;
  peak_bytes: number;
  /** Each category at that peak: the stages' own, and the activations of the micro-batches in flight. */
  at_peak: Breakdown;
  model_states_bytes: number;
}

/**
 * Each pipeline rank's memory: its stage programs' (cost/memory.ts, the plan's ZeRO sharding over the data-parallel
 * ranks; what a stage receives is made when it arrives), plus what each further micro-batch in flight keeps for its
 * backward pass (the activations alive when the backward begins): GPipe keeps every micro-batch, 1F1B at most P − p
 * on rank p, interleaved 1F1B Megatron's warm-up count of chunk forwards, 2(P − p − 1) + (v − 1)P + 1.
 */
export function pipelineMemory(
  m: Module,
  st: Stages,
  config: Pick<PlanConfig, 'parallel' | 'task' | 'batch'>,
  stages: Module[] = [...Array(st.count).keys()].map((c) => stageModule(m, st, c)),
): RankMemory[] {
  const P = st.pipeline;
  const v = st.count / P;
  const M = accumulationOf(config);
  const kind = config.parallel.schedule?.kind ?? '1f1b';
  return [...Array(P).keys()].map((p) => {
    const at_peak = Object.fromEntries(CATEGORIES.map((k) => [k, 0])) as Breakdown;
    let states = 0;
    let stash = 0;
    for (let c = p; c < st.count; c += P) {
      const sm = stages[c]!;
      const tl = memoryTimeline(sm, config);
      states += tl.gpu.model_states_bytes;
      for (const k of CATEGORIES) at_peak[k] += tl.gpu.at_peak[k];
      stash += stashedBytes(sm);
    }
    const in_flight = inFlight(kind, P, p, v, M);
    at_peak.activations += Math.max(0, in_flight - 1) * stash;
    const peak_bytes = CATEGORIES.reduce((a, k) => a + at_peak[k], 0);
    return { in_flight, peak_bytes, at_peak, model_states_bytes: states };
  });
}

/** One pipeline rank: its stages' time per micro-batch, its memory with the schedule's micro-batches in flight. */
export interface PipelineRank extends RankMemory {
  stages: number[];
  /** Per micro-batch: forward, backward (recomputation included), tensor-parallel and point-to-point communication. */
  forward_seconds: number;
  backward_seconds: number;
  communication_seconds: number;
  /** Once a step: the optimizer and the data-parallel gradient reduction. */
  update_seconds: number;
}

export interface PipelineEstimate {
  schedule: string;
  microbatches: number;
  ranks: PipelineRank[];
  /** Share of the step's pipeline time spent filling and draining it. */
  bubble_fraction: number;
  bubble_seconds: number;
}

export type ScheduleKind = 'gpipe' | '1f1b' | 'interleaved';

/** M micro-batches through ranks taking t[p] each (all their chunks): the schedule's time, bubble included. */
export function pipelineSeconds(t: number[], M: number, v: number, kind: ScheduleKind): number {
  const tmax = Math.max(...t);
  const sum = t.reduce((a, x) => a + x, 0);
  return kind === 'interleaved' ? M * tmax + (sum - tmax) / v : (M - 1) * tmax + sum;
}

/** Micro-batches whose activations rank p of P keeps at once (chunk forwards over v, interleaved). */
export const inFlight = (kind: ScheduleKind, P: number, p: number, v: number, M: number): number =>
  kind === 'gpipe'
    ? M
    : kind === 'interleaved'
      ? Math.min(2 * (P - p - 1) + (v - 1) * P + 1, M * v) / v
      : Math.min(P - p, M);

/**
 * Step time and memory of a pipelined plan (Narayanan et al. 2021, §2.2): each stage's micro-batch time from the
 * roofline model of its own program (cost/step.ts on ir/stages.ts's stage module, tensor-parallel collectives
 * included), the activations and gradients crossing stages over the fabric between their ranks (a weight two stages
 * share, and its summed gradient, once a step), and the schedule: M
 * micro-batches through P ranks take (M − 1)·t_max + Σ t_p with GPipe and 1F1B (a bubble of (P − 1)/M when the
 * stages are even), M·t_max + (Σ t_p − t_max)/v interleaved over v chunks. Then each rank's update: the optimizer and
 * the data-parallel reduction of its gradients, after its last backward (Megatron's of 2021 does not overlap them).
 * Memory: pipelineMemory.
 */
export function estimatePipeline(
  m: Module,
  st: Stages,
  config: Pick<PlanConfig, 'parallel' | 'precision' | 'task' | 'batch'>,
  machine: Machine,
): { step: StepEstimate; pipeline: PipelineEstimate } {
  const P = st.pipeline;
  const v = st.count / P;
  const M = accumulationOf(config);
  const { data: D, zero } = config.parallel;
  const T = config.parallel.tensor ?? 1;
  const kind = config.parallel.schedule?.kind ?? '1f1b';
  // one replica's M micro-batches (the update's ops run once; the data-parallel reduction is added below)
  const micro = config.batch?.micro ?? 1;
  const one = {
    ...config,
    batch: { global: micro * M, micro },
    parallel: { ...config.parallel, data: 1, zero: 0 as const },
  };
  const p2p = fabricOf(machine, 2, T * D);
  const stages = [...Array(st.count).keys()].map((c) => stageModule(m, st, c));
  const memory = pipelineMemory(m, st, config, stages);
  const ranks: PipelineRank[] = [];
  const classes = Object.fromEntries(TIME_CLASSES.map((c) => [c, 0])) as StepEstimate['by_class'];
  let modelFlops = 0;
  let executed = 0;
  let kernels = 0;
  for (let p = 0; p < P; p++) {
    const rank = {
      stages: [] as number[],
      forward_seconds: 0,
      backward_seconds: 0,
      communication_seconds: 0,
      update_seconds: 0,
    };
    let grads = 0;
    let params = 0;
    for (let c = p; c < st.count; c += P) {
      const sm = stages[c]!;
      const e = estimateStep(sm, one, machine);
      rank.stages.push(c);
      rank.forward_seconds += e.forward_seconds / M;
      rank.backward_seconds += (e.backward_seconds + e.recompute_seconds) / M;
      rank.communication_seconds += e.by_class.communication / M;
      rank.update_seconds += e.optimizer_seconds;
      // what the stage receives, forward and back, before it can go on
      for (const x of sm.values)
        if (x.op === 'input' && String(x.attrs['name']).startsWith('recv:')) {
          const t = bytesOf(x.type) / p2p.bandwidth + p2p.latency;
          if (x.attrs['weight']) rank.update_seconds += t;
          else rank.communication_seconds += t;
        }
      grads += sm.outputs.filter((o) => o.name.startsWith('grad:')).reduce((a, o) => a + bytesOf(o.value.type), 0);
      params += sm.values
        .filter((x) => x.op === 'param' && !x.attrs['frozen'])
        .reduce((a, x) => a + bytesOf(x.type), 0);
      modelFlops += e.flops.model;
      executed += e.flops.executed;
      kernels += e.kernels;
      for (const k of TIME_CLASSES) classes[k] = Math.max(classes[k], e.by_class[k] / M);
    }
    if (config.task.kind !== 'infer' && D > 1) {
      const dp = fabricOf(machine, D, T);
      rank.update_seconds += zero === 0 ? allReduce(grads, dp) : reduceScatter(grads, dp) + allGather(params, dp);
    }
    ranks.push({ ...rank, ...memory[p]! });
  }
  const t = ranks.map((r) => r.forward_seconds + r.backward_seconds + r.communication_seconds);
  const tmax = Math.max(...t);
  const pipe = pipelineSeconds(t, M, v, kind);
  const update = Math.max(...ranks.map((r) => r.update_seconds));
  const step = pipe + update;
  const bubble = pipe - M * tmax;
  const tokens = m.values.find((x) => x.op === 'input' && x.attrs['name'] === 'tokens');
  const first = m.values.find((x) => x.op === 'input' && x.attrs['feed'] === undefined);
  const shape = (tokens ?? first)?.type.shape ?? [];
  const samples = ((shape[0] as number | undefined) ?? 1) * M * D;
  const peak = opPeak(machine.gpu, HALF[config.precision] ?? 'f32', config.precision === 'fp8');
  const slowest = ranks[t.indexOf(tmax)]!;
  const by = { ...classes };
  for (const k of TIME_CLASSES) by[k] *= M;
  by.communication = M * slowest.communication_seconds + update - slowest.update_seconds;
  const bottleneck =
    bubble / step > 0.25
      ? `the pipeline bubble (${((100 * bubble) / step).toFixed(0)}% of the step: more micro-batches shrink it)`
      : TIME_CLASSES.reduce((a, k) => (by[k] > by[a] ? k : a), 'matmul' as (typeof TIME_CLASSES)[number]);
  const est: StepEstimate = {
    step_seconds: step,
    forward_seconds: M * slowest.forward_seconds,
    recompute_seconds: 0,
    backward_seconds: M * slowest.backward_seconds,
    optimizer_seconds: update,
    by_class: by,
    communication_seconds: M * slowest.communication_seconds + update,
    transfer_seconds: 0,
    flops: { executed: executed / P, model: modelFlops / P },
    kernels,
    ...(tokens ? { tokens_per_step: (shape as number[]).reduce((a, d) => a * d, 1) * M * D } : {}),
    samples_per_step: samples,
    mfu: step > 0 ? modelFlops / P / (step * peak) : 0,
    bottleneck,
  };
  return {
    step: est,
    pipeline: {
      schedule: kind === 'interleaved' ? `interleaved(${v})` : kind,
      microbatches: M,
      ranks,
      bubble_fraction: pipe > 0 ? bubble / pipe : 0,
      bubble_seconds: bubble,
    },
  };
}

/** The bytes a stage's forward leaves for its backward: the values made before its backward (or recompute) begins
 * and read after. */
export function stashedBytes(sm: Module, keep: (v: Value) => boolean = () => true): number {
  const backward = backwardValues(sm);
  const end = sm.values.findIndex((v) => backward.has(v) || !!v.name?.endsWith(REMAT_SUFFIX));
  if (end < 0) return 0;
  const last = new Map<Value, number>();
  sm.values.forEach((v, i) => {
    for (const x of v.inputs) last.set(x, i);
  });
  return sm.values
    .slice(0, end)
    .filter((v) => !LEAF_OPS.has(v.op) && keep(v) && (last.get(v) ?? -1) >= end)
    .reduce((a, v) => a + bytesOf(v.type), 0);
}
