import type { Module } from '../ir/graph.ts';
import { HALF } from '../passes/precision.ts';
import type { PlanConfig, ServeConfig } from '../sema/plan.ts';
import { peakFor, type Machine } from './device.ts';
import { memoryTimeline, type MemoryTimeline } from './memory.ts';
import { estimateStep, TIME_CLASSES, type StepEstimate } from './step.ts';
import { stagesOf } from '../ir/stages.ts';
import { bytesOf } from '../ir/op.ts';
import { fabricOf } from './collectives.ts';
import { pipelineMemory, type RankMemory } from './pipeline.ts';

export interface DecodeModule {
  context: number;
  module: Module;
}

/** What serving one batch of requests costs: the prompt's pass, then one step per generated token. */
export interface ServingEstimate {
  prefill_tokens: number;
  decode_tokens: number;
  kv_cache: boolean;
  time_to_first_token_seconds: number;
  /** Mean over the decode steps (their cost grows linearly with the context; the mean of the first and last step). */
  decode_seconds_per_token: number;
  /** Tokens generated per second across the batch while decoding. */
  decode_tokens_per_second: number;
}

type Config = Pick<PlanConfig, 'parallel' | 'precision' | 'task'>;

/**
 * The whole request as one "step": prefill, then `decode` steps whose per-token cost is linear in the
 * context (attention reads every cached token; the rest is constant), so their sum is `decode` times the
 * mean of the first and the last step.
 */
export function estimateServing(
  prefill: Module,
  decode: DecodeModule[],
  serve: ServeConfig,
  config: Config,
  machine: Machine,
): { step: StepEstimate; serving: ServingEstimate } {
  const first = withSends(prefill, estimateStep(prefill, config, machine), config, machine);
  const steps = decode.map((d) => withSends(d.module, estimateStep(d.module, config, machine), config, machine));
  const n = serve.decode;
  const mean = (f: (e: StepEstimate) => number) =>
    steps.length ? steps.reduce((a, e) => a + f(e), 0) / steps.length : 0;
  const sum = (f: (e: StepEstimate) => number) => f(first) + n * mean(f);
  const by = Object.fromEntries(TIME_CLASSES.map((c) => [c, sum((e) => e.by_class[c])])) as StepEstimate['by_class'];
  const total = sum((e) => e.step_seconds);
  const model = sum((e) => e.flops.model);
  const batch = first.samples_per_step;
  const perToken = mean((e) => e.step_seconds);
  const decoding = n * perToken > first.step_seconds;
  return {
    step: {
      step_seconds: total,
      forward_seconds: sum((e) => e.forward_seconds),
      recompute_seconds: 0,
      backward_seconds: 0,
      optimizer_seconds: 0,
      by_class: by,
      communication_seconds: sum((e) => e.communication_seconds),
      transfer_seconds: sum((e) => e.transfer_seconds),
      flops: { executed: sum((e) => e.flops.executed), model },
      kernels: Math.round(sum((e) => e.kernels)),
      tokens_per_step: batch * (n > 0 ? n : serve.prefill),
      samples_per_step: batch,
      mfu: total > 0 ? model / (total * peakFor(machine.gpu, HALF[config.precision] ?? 'f32')) : 0,
      bottleneck: decoding ? `${steps.at(-1)!.bottleneck} while decoding` : `${first.bottleneck} in the prefill`,
    },
    serving: {
      prefill_tokens: serve.prefill,
      decode_tokens: n,
      kv_cache: serve.kvCache,
      time_to_first_token_seconds: first.step_seconds,
      decode_seconds_per_token: perToken,
      decode_tokens_per_second: perToken > 0 ? batch / perToken : 0,
    },
  };
}

/**
 * A pipelined request's steps with what crosses between its stages: each activation sent over the fabric between
 * the pipeline's ranks, in turn (one batch of requests passes the stages one after another; a second batch could fill
 * the idle stages, which this latency does not count).
 */
function withSends(m: Module, e: StepEstimate, config: Config, machine: Machine): StepEstimate {
  const st = stagesOf(m);
  if (!st) return e;
  const p2p = fabricOf(machine, 2, (config.parallel.tensor ?? 1) * config.parallel.data);
  // a weight two stages share (a tied embedding) is sent once, when the model is loaded
  const sends = m.values
    .filter((v) => v.op === 'pp_send' && !v.attrs['weight'])
    .reduce((a, v) => a + bytesOf(v.type) / p2p.bandwidth + p2p.latency, 0);
  return {
    ...e,
    step_seconds: e.step_seconds + sends,
    communication_seconds: e.communication_seconds + sends,
    by_class: { ...e.by_class, communication: e.by_class.communication + sends },
  };
}

/**
 * Memory over the prompt's pass, then over the longest decode step; the peak is the larger of the two. A pipelined
 * plan's GPU is its fullest pipeline rank's: each rank holds its stages' weights and KV cache (cost/pipeline.ts).
 */
export function servingTimeline(
  prefill: Module,
  decode: DecodeModule[],
  config: Pick<PlanConfig, 'parallel' | 'task' | 'batch'>,
): MemoryTimeline {
  const a = memoryTimeline(prefill, config);
  const last = decode.at(-1);
  const b = last ? memoryTimeline(last.module, config) : a;
  const peak = b.gpu.peak_bytes > a.gpu.peak_bytes ? b : a;
  const ranks = [prefill, ...(last ? [last.module] : [])].flatMap((m) => {
    const st = stagesOf(m);
    return st ? pipelineMemory(m, st, config) : [];
  });
  const fullest = ranks.reduce<RankMemory | undefined>(
    (x, r) => (!x || r.peak_bytes > x.peak_bytes ? r : x),
    undefined,
  );
  return {
    gpu: fullest
      ? { peak_bytes: fullest.peak_bytes, at_peak: fullest.at_peak, model_states_bytes: fullest.model_states_bytes }
      : peak.gpu,
    host: peak.host,
    ssd: peak.ssd,
    points: last ? [...a.points, ...b.points] : a.points,
    tierPoints: last ? [...a.tierPoints, ...b.tierPoints] : a.tierPoints,
  };
}
