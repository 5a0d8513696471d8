import { z } from 'zod';
import { checkPlan, PlanError } from './validate-plan.ts';
import { PLAN_TARGETS } from './targets.ts';

export { KERNEL_EXT, PLAN_TARGETS, type PlanTarget } from './targets.ts';

/**
 * The execution plan: the contract between the compiler (which writes it) and the runtime (which
 * validates and runs it). Buffers live at offsets in one arena per tier; steps are kernel launches.
 */
const Int = z.number().int().nonnegative();
const DType = z.enum(['f32', 'i32']);

export const PLAN_VERSION = 3;

export const InitSpec = z.object({
  init: z.string(),
  std: z.number().optional(),
  mean: z.number().optional(),
  low: z.number().optional(),
  high: z.number().optional(),
  value: z.number().optional(),
  storage: z.literal('nf4').optional(),
});

export const Feed = z.union([
  /** The run counter (1-based); with `every`, the optimizer's step under gradient accumulation over `every` runs. */
  z.object({ kind: z.literal('step'), every: Int.optional() }),
  /** 1 in a run that ends an optimizer step (every `every`-th), else 0. */
  z.object({ kind: z.literal('last_micro'), every: Int }),
  z.object({ kind: z.literal('graph'), graph: z.string(), key: z.string() }),
  /** One fixed, seeded batch; integers are drawn from [0, range). */
  z.object({ kind: z.literal('synthetic'), range: Int.optional() }),
  /** Windows of the plan's text corpus: `tokens` and the same windows shifted by one for `targets`. */
  z.object({ kind: z.literal('text'), part: z.enum(['train', 'val']), role: z.enum(['tokens', 'targets']) }),
]);

export const BufferSpec = z.object({
  id: Int,
  name: z.string(),
  dtype: DType,
  shape: z.array(Int),
  /** Bytes the tensor occupies (its allocation is this rounded up to the arena's alignment). */
  bytes: Int,
  /** The arena it lives in: the GPU's, host memory's or the SSD's (a spill file). */
  tier: z.enum(['gpu', 'host', 'ssd']),
  offset: Int,
  role: z.enum(['input', 'param', 'state', 'temp']),
  /**
   * A range of rows of another buffer (a block of a parameter or optimizer state, a part of an output assembled in host
   * memory): it lies within that buffer, lives while it does, and is never allocated or freed itself.
   */
  parent: Int.optional(),
});

/** A pipelined plan's step runs on the ranks of one stage (stage c on pipeline rank c mod P); without it, on all. */
const Stage = { stage: Int.optional() };

export const StepSpec = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('launch'),
    kernel: z.string(),
    bindings: z.array(Int),
    dispatch: z.tuple([Int, Int, Int]),
    value: z.string(),
    ...Stage,
  }),
  /**
   * A partitioned plan's exchange between ranks (compiler/interp/simulated-ranks.ts and nccl-rank.ts make them):
   * `op` a collective of the IR (its result on each rank from the operands of its group), `pp_send` (the receiving
   * stage's `to` is the sending stage's `from`), or `data_mean` (a gradient averaged over the data-parallel replicas
   * in place; `group: expert`: an expert's, summed over the ranks holding it and divided by the replicas).
   */
  z.object({
    kind: z.literal('collective'),
    op: z.string(),
    attrs: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
    from: Int,
    /** Every operand's buffer, for a collective of more than one (`from` is the first). */
    operands: z.array(Int).optional(),
    to: Int,
    value: z.string(),
    ...Stage,
  }),
  z.object({ kind: z.literal('alloc'), buffer: Int }),
  z.object({ kind: z.literal('free'), buffer: Int }),
  /**
   * A copy between tiers (`from` and `to` of one size, one of them on the GPU): issued here, finished before any
   * later step reads `to` (a copy off the GPU may run on while kernels do) and before `from` is written again.
   */
  z.object({ kind: z.literal('copy'), from: Int, to: Int, value: z.string(), ...Stage }),
  /** Zeroes a buffer on the GPU (a persistent kernel's counters), before the launches after it; not a launch. */
  z.object({ kind: z.literal('clear'), buffer: Int }),
]);

export const PlanSchema = z.object({
  version: z.literal(PLAN_VERSION),
  name: z.string(),
  /** The .flex file the plan was built from (relative to the build directory). */
  source: z.string().optional(),
  /** What the kernels are written in: WGSL (run by WebGPU), C or CUDA (compiled into `library`). */
  target: z.enum(PLAN_TARGETS),
  /** The shared library of a compiled target (C or CUDA), relative to the plan: kernels and the step's launches. */
  library: z.string().optional(),
  /** The kernel variants the plan carries: `gpu` (workgroup tiling) or `cpu` (CPU drivers and native code). */
  deviceClass: z.enum(['cpu', 'gpu']),
  /** The device limits the compiler planned for; the runtime checks the device meets them. */
  limits: z.object({ maxBufferSize: Int, maxStorageBufferBindingSize: Int }),
  seed: Int,
  alignment: Int,
  /** Bytes of each tier's arena (host and SSD only where the plan places values there). */
  arenas: z.object({ gpu: Int, host: Int.optional(), ssd: Int.optional() }),
  predictedPeakBytes: Int,
  buffers: z.array(BufferSpec),
  kernels: z.array(
    z.object({
      name: z.string(),
      file: z.string(),
      bindings: Int,
      ops: z.array(z.string()),
      /** Invocations per workgroup (a CUDA block's size). */
      workgroup: z.tuple([Int, Int, Int]),
    }),
  ),
  inputs: z.array(z.object({ name: z.string(), buffer: Int, feed: Feed })),
  params: z.array(z.object({ name: z.string(), buffer: Int, init: InitSpec, trainable: z.boolean() })),
  /** `inputs`: the plan's inputs an output is computed from (a prediction needs no labels). */
  outputs: z.array(z.object({ name: z.string(), buffer: Int, inputs: z.array(z.string()) })),
  graphs: z.record(
    z.string(),
    z.object({
      name: z.string(),
      nodes: Int,
      features: z
        .union([
          z.object({ indptr: z.string(), indices: z.string(), dim: Int, normalize: z.enum(['row', 'none']) }),
          z.object({ dense: z.string(), dim: Int, normalize: z.enum(['row', 'none']) }),
        ])
        .optional(),
      edges: z.object({ file: z.string() }).optional(),
      labels: z.object({ file: z.string() }).optional(),
      split: z.object({ file: z.string() }).optional(),
    }),
  ),
  text: z.object({ file: z.string(), split: z.number().gt(0).lt(1) }).optional(),
  steps: z.array(StepSpec),
});

export type Plan = z.infer<typeof PlanSchema>;
export type PlanBuffer = z.infer<typeof BufferSpec>;
export type PlanStep = z.infer<typeof StepSpec>;

export { PlanError } from './validate-plan.ts';

/** Validates a plan (e.g. read from plan.json): a malformed or tampered plan is rejected with the first problem. */
export function parsePlan(json: unknown): Plan {
  const r = PlanSchema.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new PlanError(`invalid plan: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const plan = r.data;
  checkPlan(plan);
  return plan;
}
