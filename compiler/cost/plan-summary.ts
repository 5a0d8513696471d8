import { accumulationOf, type PlanConfig } from '../sema/plan.ts';
import { stateLayout, type StateLayout } from './state-layout.ts';
import { planMemory } from '../codegen/memory.ts';
import { activeParameters, modelElems, moeLayers } from './moe.ts';
import type { Module } from '../ir/graph.ts';
import { elems } from '../ir/op.ts';
import { parseExpr, type Expr } from '../ir/ops/fused.ts';
import { flopsOf } from '../ir/ops/registry.ts';
import type { Lowered } from '../lower/lower.ts';
import { machineOf } from './device.ts';
import { memoryTimeline, type Breakdown, type MemoryTimeline } from './memory.ts';
import { estimateServing, servingTimeline, type DecodeModule, type ServingEstimate } from './serving.ts';
import { estimateStep, type StepEstimate } from './step.ts';
import { estimatePipeline, type PipelineEstimate, pipelineMemory, type RankMemory } from './pipeline.ts';
import { stagesOf } from '../ir/stages.ts';
import type { SearchResult } from './search.ts';
import { movesOf } from './transfer.ts';

type Tier = { peak_bytes: number; model_states_bytes: number } & Breakdown;

/** What `flexc plan --json` prints for each plan. */
export interface PlanSummary {
  plan: string;
  /** `train`, `finetune` (LoRA) or `infer`. */
  task: string;
  /** Parameter counts: all of the model's, and those the step trains (LoRA: the adapters only). */
  /**
   * Parameters: all, trained, and with mixture-of-experts layers those a token uses (`active`: k of E experts) and
   * the layers' routing.
   */
  parameters: {
    count: number;
    trained: number;
    /** Those stored as NF4 (QLoRA's frozen base, `lora: { base: nf4 }`). */
    nf4?: number;
    active?: number;
    moe?: {
      layers: number;
      experts: number;
      k: number;
      capacity: number;
      padding: number;
      /** The least fraction of choices dropped (capacity below k·T), averaged over the layers. */
      dropped: number;
      /** Kernels one MoE layer runs per step, each a launch (the layers' largest). */
      kernels: { forward: number; backward: number };
      /** Layers run by the fused kernel (`fuse: [moe]`). */
      fused: number;
    };
  };
  precision: string;
  checkpoint: string;
  /** A train plan's model states per trained parameter, by what holds them (stateLayout). */
  state_bytes_per_parameter?: StateLayout;
  /** What `checkpoint: auto` chose: the solver of its schedule (selective: the attention cores recomputed). */
  checkpoint_solver?: string;
  /** Node blocks a graph step is cut into (`blocks`, or the number `blocks: auto` chose); 1: whole. */
  blocks: number;
  budget_bytes: number | null;
  hardware: string | null;
  parallel: PlanConfig['parallel'];
  memory: {
    /**
     * `arena_*`: the single-GPU fp32-style arena the build allocates (updates not in place, nothing
     * sharded); without checkpointing it is null where the checkpoint pass measured one rank's peak
     * (data parallelism, offload) instead.
     */
    gpu: Tier & {
      capacity_bytes: number | null;
      fits: boolean | null;
      arena_bytes: number;
      arena_bytes_without_checkpointing: number | null;
      /**
       * What the checkpoint pass measured and bounded by the budget (CheckpointReport.measured), without and with its
       * schedule.
       */
      checkpointing: { measured: 'arena' | 'per-gpu'; bytes_without: number; bytes_with: number } | null;
    };
    host: Tier;
    /** Activations placement put on the SSD, at their peak. */
    ssd: { peak_bytes: number };
  };
  /**
   * Where activations wait for the backward pass besides the GPU (placement): the policy, each tier's arena, bytes
   * per link per step, and which values went where. Null when every activation stays on the GPU.
   */
  /**
   * What `fuse` fused: elementwise ops and the kernels they became, MoE layers run by the fused kernel of the model's;
   * null when the plan asks for no fusion.
   */
  fusion: {
    elementwise?: { ops: number; kernels: number };
    moe?: { fused: number; layers: number };
  } | null;
  placement: {
    policy: string;
    arena_bytes: { host: number; ssd: number };
    link_bytes_per_step: ReturnType<typeof movesOf>['links'];
    values: ReturnType<typeof movesOf>['values'];
  } | null;
  flops: { step: number; recompute: number; recompute_percent: number };
  /** Null without hardware (`on: …`) to time it on. */
  time: Omit<StepEstimate, 'flops' | 'mfu' | 'bottleneck' | 'tokens_per_step' | 'samples_per_step'> | null;
  throughput: { tokens_per_second: number | null; samples_per_second: number } | null;
  mfu: number | null;
  bottleneck: string | null;
  /**
   * Serving plans: time to the first token and per generated token (the step is the whole request: prefill and every
   * decode step).
   */
  serving?: ServingEstimate;
  /** Pipelined plans: each pipeline rank's time and memory, the schedule and its bubble. */
  pipeline?: PipelineEstimate;
  /** `parallel: auto`: the partitions searched, the fastest that fit (the first is this plan's), why the rest lost. */
  search?: SearchResult;
}

function parameterCounts(m: Module): PlanSummary['parameters'] {
  const params = m.values.filter((v) => v.op === 'param');
  const count = params.reduce((a, v) => a + modelElems(v), 0);
  const trained = params.filter((v) => !v.attrs['frozen']).reduce((a, v) => a + modelElems(v), 0);
  const nf4 = params.filter((v) => v.attrs['storage'] === 'nf4').reduce((a, v) => a + elems(v.type), 0);
  const layers = moeLayers(m);
  if (!layers.length) return { count, trained, ...(nf4 ? { nf4 } : {}) };
  const [first] = layers;
  const moe = {
    layers: layers.length,
    experts: first!.experts,
    k: first!.k,
    capacity: first!.capacity,
    padding: layers.reduce((a, l) => a + l.padding, 0) / layers.length,
    dropped: layers.reduce((a, l) => a + l.dropped, 0) / layers.length,
    kernels: {
      forward: Math.max(...layers.map((l) => l.kernels.forward)),
      backward: Math.max(...layers.map((l) => l.kernels.backward)),
    },
    fused: layers.filter((l) => l.fused).length,
  };
  return { count, trained, active: activeParameters(count, layers), moe };
}

const timeOf = ({
  flops: _f,
  mfu: _m,
  bottleneck: _b,
  tokens_per_step: _t,
  samples_per_step: _s,
  ...time
}: StepEstimate): NonNullable<PlanSummary['time']> => time;

/** The summary of one compiled plan, and the memory timeline behind it (for the picture). */
export function summarize(
  m: Module,
  low: Lowered,
  decode: DecodeModule[] = [],
): { summary: PlanSummary; timeline: MemoryTimeline } {
  const config = low.config;
  const ck = m.checkpoint;
  const arena = ck?.measured === 'arena' ? ck.bytesWith : planMemory(m).arenaBytes;
  const serve = config.task.kind === 'infer' ? config.task.serve : undefined;
  // a step of a plan with gradient accumulation runs the module once per micro-batch
  const runs = accumulationOf(config);
  const recompute = runs * (ck?.recomputeFlops ?? 0);
  const c = config.checkpoint;
  const layout = config.task.kind === 'train' ? stateLayout(m) : undefined;
  const timeline = serve ? servingTimeline(m, decode, config) : memoryTimeline(m, config);
  const tier = (t: MemoryTimeline['gpu']): Tier => ({
    peak_bytes: t.peak_bytes,
    ...t.at_peak,
    model_states_bytes: t.model_states_bytes,
  });
  const machine = low.hardware ? machineOf(low.hardware) : undefined;
  const served = machine && serve ? estimateServing(m, decode, serve, config, machine) : undefined;
  const st = stagesOf(m);
  const piped = machine && st && !serve ? estimatePipeline(m, st, config, machine) : undefined;
  const est = served?.step ?? piped?.step ?? (machine ? estimateStep(m, config, machine) : undefined);
  // a pipeline's GPU is its fullest rank's: its stages' model states and the activations its schedule keeps (with
  // hardware or without)
  const ranks = piped?.pipeline.ranks ?? (st && !serve ? pipelineMemory(m, st, config) : undefined);
  const fullest = ranks?.reduce<RankMemory>((a, r) => (r.peak_bytes > a.peak_bytes ? r : a), ranks[0]!);
  if (fullest)
    timeline.gpu = {
      peak_bytes: fullest.peak_bytes,
      at_peak: fullest.at_peak,
      model_states_bytes: fullest.model_states_bytes,
    };
  const flops =
    runs * flopsOf(m.values) +
    (serve?.decode ?? 0) *
      (decode.length ? decode.reduce((a, d) => a + flopsOf(d.module.values), 0) / decode.length : 0);
  const capacity = machine && Number.isFinite(machine.gpu.memory) ? machine.gpu.memory : undefined;
  const summary: PlanSummary = {
    plan: config.name,
    task: config.task.kind === 'train' && config.task.lora ? 'finetune' : config.task.kind,
    parameters: parameterCounts(m),
    precision: config.precision,
    checkpoint: typeof c === 'string' ? c : `every(${c.every})`,
    ...(c === 'auto' && ck?.solver ? { checkpoint_solver: ck.solver } : {}),
    ...(layout ? { state_bytes_per_parameter: layout } : {}),
    blocks: typeof config.blocks === 'number' ? config.blocks : 1,
    budget_bytes: config.memory.gpu ?? null,
    hardware: config.hardware ?? null,
    parallel: config.parallel,
    memory: {
      gpu: {
        ...tier(timeline.gpu),
        capacity_bytes: capacity ?? null,
        fits: capacity === undefined ? null : timeline.gpu.peak_bytes <= capacity,
        arena_bytes: arena,
        arena_bytes_without_checkpointing: !ck ? arena : ck.measured === 'arena' ? ck.bytesWithout : null,
        checkpointing: ck ? { measured: ck.measured, bytes_without: ck.bytesWithout, bytes_with: ck.bytesWith } : null,
      },
      host: tier(timeline.host),
      ssd: { peak_bytes: timeline.ssd.peak_bytes },
    },
    fusion: fusionOf(m, config.fuse),
    placement: placementOf(m, config.placement),
    flops: { step: flops, recompute, recompute_percent: Number(((100 * recompute) / Math.max(1, flops)).toFixed(2)) },
    time: est ? timeOf(est) : null,
    throughput: est
      ? {
          tokens_per_second: est.tokens_per_step !== undefined ? est.tokens_per_step / est.step_seconds : null,
          samples_per_second: est.samples_per_step / est.step_seconds,
        }
      : null,
    mfu: est ? est.mfu : null,
    ...(served ? { serving: served.serving } : {}),
    ...(piped ? { pipeline: piped.pipeline } : {}),
    bottleneck: est ? est.bottleneck : null,
  };
  return { summary, timeline };
}

function placementOf(m: Module, policy: string): PlanSummary['placement'] {
  const moves = movesOf(m);
  if (!moves.values.length) return null;
  const { tiers } = planMemory(m);
  return {
    policy,
    arena_bytes: { host: tiers.host.arenaBytes, ssd: tiers.ssd.arenaBytes },
    link_bytes_per_step: moves.links,
    values: moves.values,
  };
}

/** What the plan's `fuse` entries fused (layers recomputed for the backward pass counted once). */
function fusionOf(m: Module, asked: readonly string[]): PlanSummary['fusion'] {
  if (!asked.length) return null;
  const calls = (e: Expr): number => (e.kind === 'call' ? 1 + e.args.reduce((a, x) => a + calls(x), 0) : 0);
  const fused = m.values.filter((v) => v.op === 'fused');
  const layers = moeLayers(m);
  return {
    ...(asked.includes('elementwise') && {
      elementwise: {
        ops: fused.reduce((a, v) => a + calls(parseExpr(String(v.attrs['expr']))), 0),
        kernels: fused.length,
      },
    }),
    ...(asked.includes('moe') && { moe: { fused: layers.filter((l) => l.fused).length, layers: layers.length } }),
  };
}
