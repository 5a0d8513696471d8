import { z } from 'zod';
import type * as A from '../../grammar/ast.ts';
import { diag, didYouMean, type Diagnostic, type Span } from '../../grammar/diagnostics.ts';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { displayPath, type DeclRef, type Program, type SourceFile } from './program.ts';
import { quantityOf } from './hardware.ts';

const WeightDecay = z.array(z.object({ pattern: z.string(), value: z.number().nonnegative() }));
export const OptimizerConfig = z.object({
  kind: z.enum(['sgd', 'adam', 'adamw']),
  lr: z.number().positive(),
  beta1: z.number().min(0).lt(1),
  beta2: z.number().min(0).lt(1),
  eps: z.number().positive(),
  /** Per-parameter weight decay: the first pattern that matches a parameter's name wins. */
  weightDecay: WeightDecay,
});
export type OptimizerConfig = z.infer<typeof OptimizerConfig>;

/** LoRA (Hu et al. 2021): the base model frozen, each target weight W gets a trained update (alpha/rank)·A·B. */
export const LoraConfig = z.object({
  rank: z.number().int().positive(),
  alpha: z.number().positive(),
  targets: z.array(z.string()).min(1),
  /** QLoRA (Dettmers et al. 2023): the frozen base's matmul weights stored in 4-bit NormalFloat. */
  base: z.literal('nf4').optional(),
});
export type LoraConfig = z.infer<typeof LoraConfig>;
/** Serving: a prompt of `prefill` tokens, then `decode` tokens one at a time, with or without a KV cache. */
export const ServeConfig = z.object({
  prefill: z.number().int().positive(),
  decode: z.number().int().nonnegative(),
  kvCache: z.boolean(),
});
export type ServeConfig = z.infer<typeof ServeConfig>;

export const PlanConfig = z.object({
  name: z.string(),
  model: z.string(),
  modelArgs: z.record(z.string(), z.union([z.number(), z.boolean()])),
  hardware: z.string().optional(),
  bind: z.record(z.string(), z.number().int().positive()),
  /**
   * Gradient accumulation: `global` examples per optimizer step over all data-parallel ranks, each rank running
   * `micro` at a time (the model's batch `B` is bound to `micro`); each run of the step is one micro-batch, and every
   * global / (micro · data)-th applies the update.
   */
  batch: z.object({ global: z.number().int().positive(), micro: z.number().int().positive() }).optional(),
  task: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('train'), loss: z.string(), optimizer: OptimizerConfig, lora: LoraConfig.optional() }),
    z.object({ kind: z.literal('infer'), serve: ServeConfig.optional() }),
  ]),
  memory: z.object({
    gpu: z.number().positive().optional(),
    host: z.number().positive().optional(),
    ssd: z.number().positive().optional(),
  }),
  checkpoint: z.union([
    z.enum(['auto', 'none', 'selective', 'all', 'sqrt']),
    z.object({ every: z.number().int().positive() }),
  ]),
  /**
   * Where activations the backward pass reads wait for it: `gpu` (kept, or recomputed under `checkpoint`), every one
   * in `host` memory or on the `ssd`, or `auto`: the planner's choice per activation among keep, recompute and the
   * tiers the plan budgets (`memory.host`, `memory.ssd`).
   */
  placement: z.enum(['auto', 'gpu', 'host', 'ssd']),
  /** Row blocks a step over a graph's nodes is cut into (block-nodes); 1, or absent, keeps tensors whole. */
  blocks: z.union([z.number().int().positive(), z.literal('auto')]).optional(),
  fuse: z.array(z.enum(['elementwise', 'moe'])),
  /**
   * How `attention` ops run: `fused` (FlashAttention: one kernel keeping each row's running statistics, linear memory)
   * or `composite` (the T×S scores materialised: matmul, scale, mask, softmax, matmul).
   */
  attention: z.enum(['fused', 'composite']),
  target: z.enum(['wgsl', 'c', 'cuda']),
  /** fp32 everywhere, or bf16/fp16 tensors with fp32 master weights and optimizer state. */
  precision: z.enum(['fp32', 'bf16', 'fp16', 'fp8']),
  /**
   * Data parallelism over `data` GPUs with ZeRO stage `zero` (Rajbhandari et al. 2020); `offload` moves optimizer state
   * (and master weights) or parameters to host memory.
   */
  parallel: z.object({
    data: z.number().int().positive(),
    zero: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]),
    offload: z.array(z.enum(['optimizer', 'params'])),
    /**
     * Expert parallelism (GShard; DeepSpeed-MoE): each MoE layer's experts split over groups of `expert` of the
     * data-parallel GPUs, tokens sent to their experts and back by all-to-all. 1 (or absent): every GPU holds every
     * expert.
     */
    expert: z.number().int().positive().optional(),
    /**
     * Tensor parallelism (Megatron): each pair of linear layers split over `tensor` GPUs, the program one rank's
     * (passes/partition-tensor.ts). 1 (or absent): nothing split.
     */
    tensor: z.number().int().positive().optional(),
    /** Sequence parallelism (Korthikanti et al. 2022): the tokens between tensor-parallel layers split too. */
    sequence: z.boolean().optional(),
    /**
     * Pipeline parallelism (GPipe; PipeDream-Flush; Narayanan et al. 2021): the layers cut into `pipeline` stages, one
     * per GPU of a pipeline, balanced by the cost model (passes/partition-pipeline.ts); each step's micro-batches
     * (`batch`, or `microbatches`) flow through them in the order of `schedule`. 1 (or absent): one stage.
     */
    pipeline: z.number().int().positive().optional(),
    /**
     * The micro-batches' order: `gpipe` (every forward, then every backward), `1f1b` (one forward, one backward:
     * PipeDream-Flush) or `interleaved` (1F1B over `chunks` model chunks per GPU, Narayanan et al. §2.2.2).
     */
    schedule: z
      .object({ kind: z.enum(['gpipe', '1f1b', 'interleaved']), chunks: z.number().int().positive() })
      .optional(),
    /**
     * `parallel: auto`: the partition (tensor, pipeline, data, sequence, ZeRO, micro-batch, checkpointing, schedule)
     * is searched for (cost/search.ts) when the plan is compiled; the fastest that fits replaces these settings.
     */
    auto: z.boolean().optional(),
  }),
  seed: z.number().int().nonnegative(),
  steps: z.number().int().positive(),
  /** A character-level corpus feeding the model's `tokens` and `targets` inputs. */
  data: z.object({ kind: z.literal('text'), file: z.string(), split: z.number().gt(0).lt(1) }).optional(),
});
export type PlanConfig = z.infer<typeof PlanConfig>;

/**
 * The settings of a plan made by code rather than a .flex file (tests, probes, benches): one GPU, fp32, no
 * checkpointing, inference, then `over`.
 */
export function planConfigOf(over: Record<string, unknown> = {}): PlanConfig {
  return PlanConfig.parse({
    name: 'plan',
    model: 'M',
    modelArgs: {},
    bind: {},
    task: { kind: 'infer' },
    memory: {},
    checkpoint: 'none',
    placement: 'auto',
    fuse: [],
    attention: 'fused',
    target: 'wgsl',
    precision: 'fp32',
    parallel: { data: 1, zero: 0, offload: [] },
    seed: 0,
    steps: 1,
    ...over,
  });
}

/** Runs of the step per optimizer step: global / (micro · data) under `batch: { global, micro }`, else 1. */
export const accumulationOf = (c: Pick<PlanConfig, 'batch' | 'parallel'>): number =>
  c.batch ? c.batch.global / (c.batch.micro * c.parallel.data) : 1;

export const PLAN_FIELDS = [
  'model',
  'on',
  'bind',
  'batch',
  'task',
  'memory',
  'checkpoint',
  'placement',
  'blocks',
  'fuse',
  'attention',
  'target',
  'precision',
  'parallel',
  'seed',
  'steps',
  'data',
];
const OPT_DEFAULTS = {
  sgd: { lr: 0.01, beta1: 0, beta2: 0, eps: 1e-8 },
  adam: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  adamw: { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
};

type Bad = (at: { span: Span }, msg: string, hint?: string) => void;
const nameOf = (e: A.Expr): string | undefined => (e.kind === 'name' ? e.name : undefined);
const isAuto = (f: A.Field | undefined) => !!f && nameOf(f.value) === 'auto';
const PARALLEL_FIELDS = [
  'data',
  'tensor',
  'pipeline',
  'sequence',
  'expert',
  'zero',
  'offload',
  'microbatches',
  'schedule',
];

/** `gpipe`, `1f1b` (a number with a unit to the lexer) or `interleaved(v)` (`interleaved` alone: 2 chunks). */
function scheduleOf(e: A.Expr): NonNullable<PlanConfig['parallel']['schedule']> | undefined {
  const name =
    e.kind === 'call'
      ? nameOf(e.callee)
      : e.kind === 'number' && e.text === '1' && e.unit?.name === 'f1b'
        ? '1f1b'
        : nameOf(e);
  if (name === 'gpipe' || name === '1f1b') return e.kind === 'call' ? undefined : { kind: name, chunks: 1 };
  if (name !== 'interleaved') return undefined;
  if (e.kind !== 'call') return { kind: 'interleaved', chunks: 2 };
  const [a, ...rest] = e.args;
  const n = a && !a.name && !rest.length ? wholeAtLeast(a.value, 2) : undefined;
  return n === undefined ? undefined : { kind: 'interleaved', chunks: n };
}
/** A plain whole number (no unit) of at least `min`, or undefined. */
const wholeAtLeast = (e: A.Expr, min: number): number | undefined =>
  e.kind === 'number' && !e.unit && Number.isInteger(e.value) && e.value >= min ? e.value : undefined;

/** Reads a `plan` block into a PlanConfig; problems go to `out` and the result is undefined. */
/** A plan's settings, checked, and the model it lowers. */
export interface ResolvedPlan {
  config: PlanConfig;
  model: DeclRef;
}

export function resolvePlan(
  p: A.PlanDecl,
  file0: SourceFile,
  program: Program,
  out: Diagnostic[],
): ResolvedPlan | undefined {
  const before = out.length;
  const scope = program.scopes.get(file0) ?? new Map<string, DeclRef>();
  const fields = new Map<string, A.Field>();
  for (const f of p.fields) {
    if (!PLAN_FIELDS.includes(f.key.name))
      out.push(
        diag(
          'FLX5001',
          f.key.span,
          `a plan has no field \`${f.key.name}\``,
          didYouMean(f.key.name, PLAN_FIELDS) ?? `plan fields are ${PLAN_FIELDS.map((x) => `\`${x}\``).join(', ')}`,
        ),
      );
    else if (fields.has(f.key.name))
      out.push(diag('FLX2011', f.key.span, `plan field \`${f.key.name}\` is given twice`));
    else fields.set(f.key.name, f);
  }
  const bad = (e: A.Expr | A.Field, msg: string, hint?: string) => {
    out.push(diag('FLX5007', e.span, msg, hint));
  };
  /** The fields of a plan field written as a block (`k: { … }`); anything else is reported. */
  const block = (k: string, example: string): A.Field[] => {
    const f = fields.get(k);
    if (!f) return [];
    if (f.value.kind === 'object') return f.value.fields;
    bad(f.value, example);
    return [];
  };

  // model
  const mf = fields.get('model');
  let model: DeclRef | undefined;
  const modelArgs: Record<string, number | boolean> = {};
  if (!mf) out.push(diag('FLX5002', p.name.span, `plan \`${p.name.name}\` needs \`model: …\``));
  else {
    const e = mf.value;
    const callee = e.kind === 'call' ? e.callee : e;
    const name = nameOf(callee);
    const ref = name ? scope.get(name) : undefined;
    const models = [...scope.values()].filter((d) => d.decl.kind === 'model').map((d) => d.decl.name.name);
    if (!name || !ref || ref.decl.kind !== 'model')
      out.push(
        diag(
          'FLX5005',
          callee.span,
          name ? `unknown model \`${name}\`` : 'expected a model name',
          name ? didYouMean(name, models) : undefined,
        ),
      );
    else {
      model = ref;
      const decl = ref.decl as A.ModelDecl;
      for (const a of e.kind === 'call' ? e.args : []) {
        if (!a.name) {
          bad(a.value, 'model arguments are named: `Gpt(depth: 12)`');
          continue;
        }
        if (!decl.params.some((q) => q.name.name === a.name!.name)) {
          out.push(
            diag(
              'FLX3010',
              a.name.span,
              `model \`${decl.name.name}\` has no parameter \`${a.name.name}\``,
              didYouMean(
                a.name.name,
                decl.params.map((q) => q.name.name),
              ),
            ),
          );
          continue;
        }
        const v = a.value;
        if (v.kind === 'number' && !v.unit) modelArgs[a.name.name] = v.value;
        else if (v.kind === 'bool') modelArgs[a.name.name] = v.value;
        else if (v.kind === 'neg' && v.operand.kind === 'number') modelArgs[a.name.name] = -v.operand.value;
        else bad(v, `model argument \`${a.name.name}\` must be a number or a boolean`);
      }
    }
  }

  // on
  let hardware: string | undefined;
  const on = fields.get('on');
  if (on) {
    const name = nameOf(on.value);
    const ref = name ? scope.get(name) : undefined;
    if (ref?.decl.kind !== 'hardware')
      out.push(
        diag(
          'FLX2010',
          on.value.span,
          name ? `unknown hardware \`${name}\`` : 'expected a hardware name',
          name
            ? didYouMean(
                name,
                [...scope.values()].filter((d) => d.decl.kind === 'hardware').map((d) => d.decl.name.name),
              )
            : undefined,
        ),
      );
    else hardware = name;
  }

  // bind
  const bind: Record<string, number> = {};
  for (const f of block('bind', '`bind` is a block of sizes: `bind: { B: 8, T: 1024 }`')) {
    const n = wholeAtLeast(f.value, 1);
    if (n === undefined) bad(f.value, `size \`${f.key.name}\` must be a positive whole number`);
    else bind[f.key.name] = n;
  }

  // task
  const task = parseTask(fields.get('task'), out);

  // batch: { global, micro } binds B to the micro-batch
  let batch: PlanConfig['batch'];
  const batchField = fields.get('batch');
  if (batchField) {
    const sizes: Record<string, number> = {};
    const before = out.length;
    for (const f of block('batch', '`batch` is a block: `batch: { global: 512, micro: 8 }`')) {
      const n = wholeAtLeast(f.value, 1);
      if (f.key.name !== 'global' && f.key.name !== 'micro')
        bad(
          f,
          `\`batch\` has no \`${f.key.name}\``,
          didYouMean(f.key.name, ['global', 'micro']) ?? '`global`, `micro`',
        );
      else if (n === undefined) bad(f.value, `\`${f.key.name}\` is a number of examples, a whole number ≥ 1`);
      else sizes[f.key.name] = n;
    }
    const { global, micro } = sizes;
    if (task.kind !== 'train')
      bad(batchField.value, 'gradient accumulation (`batch: { global, micro }`) is for a train plan');
    else if (out.length > before) {
      // reported above
    } else if (global !== undefined && micro === undefined && isAuto(fields.get('parallel'))) {
      // the search chooses the micro-batch
      batch = { global, micro: 1 };
      bind['B'] = 1;
    } else if (global === undefined || micro === undefined)
      bad(batchField.value, '`batch` names both sizes: `{ global: 512, micro: 8 }`');
    else if (global !== undefined && micro !== undefined) {
      if (bind['B'] !== undefined && bind['B'] !== micro)
        bad(
          batchField.value,
          `\`bind\` sets B to ${bind['B']}, but the micro-batch is ${micro}`,
          'bind B to the micro-batch, or leave it out of `bind`',
        );
      else {
        batch = { global, micro };
        bind['B'] = micro;
      }
    }
  }

  // memory
  const memory: PlanConfig['memory'] = {};
  for (const f of block('memory', '`memory` is a block of budgets: `memory: { gpu: 20 GiB }`')) {
    if (!['gpu', 'host', 'ssd'].includes(f.key.name)) {
      out.push(
        diag(
          'FLX4003',
          f.key.span,
          `no memory tier \`${f.key.name}\``,
          didYouMean(f.key.name, ['gpu', 'host', 'ssd']) ?? 'tiers are `gpu`, `host` and `ssd`',
        ),
      );
      continue;
    }
    const q = quantityOf(f.value, 'bytes', `memory.${f.key.name}`, out);
    if (q !== undefined && !(q > 0)) bad(f.value, `the ${f.key.name} budget must be more than zero`);
    else if (q !== undefined) memory[f.key.name as 'gpu'] = q;
  }

  const choice = <T extends string>(k: string, options: readonly T[], dflt: T): T => {
    const f = fields.get(k);
    if (!f) return dflt;
    const n = nameOf(f.value);
    if (!n || !options.includes(n as T)) {
      bad(
        f.value,
        `\`${k}\` is one of ${options.map((o) => `\`${o}\``).join(', ')}`,
        n ? didYouMean(n, options) : undefined,
      );
      return dflt;
    }
    return n as T;
  };

  let checkpoint: PlanConfig['checkpoint'] = 'none';
  const cf = fields.get('checkpoint');
  if (cf) {
    const v = cf.value;
    if (v.kind === 'call' && nameOf(v.callee) === 'every') {
      const k = v.args[0]?.value;
      if (v.args.length !== 1 || k?.kind !== 'number' || !Number.isInteger(k.value) || k.value < 1)
        bad(v, '`every(k)` takes one positive whole number');
      else checkpoint = { every: k.value };
    } else checkpoint = choice('checkpoint', ['auto', 'none', 'selective', 'all', 'sqrt'] as const, 'none');
  }
  const placement = choice('placement', ['auto', 'gpu', 'host', 'ssd'] as const, 'auto');
  let blocks: number | 'auto' | undefined;
  const bf = fields.get('blocks');
  if (bf) {
    blocks = nameOf(bf.value) === 'auto' ? 'auto' : wholeAtLeast(bf.value, 1);
    if (blocks === undefined)
      bad(bf.value, '`blocks` is how many node blocks a graph step is cut into, a whole number ≥ 1, or `auto`');
  }
  const attention = choice('attention', ['fused', 'composite'] as const, 'fused');
  const target = choice('target', ['wgsl', 'c', 'cuda'] as const, 'wgsl');
  const precision = choice('precision', ['fp32', 'bf16', 'fp16', 'fp8'] as const, 'fp32');
  const parallel: PlanConfig['parallel'] = { data: 1, zero: 0, offload: [] };
  const parallelField = fields.get('parallel');
  const auto = isAuto(parallelField);
  if (auto) {
    parallel.auto = true;
    if (task.kind !== 'train') bad(parallelField!.value, '`parallel: auto` searches partitions of a train plan');
  }
  let sequenceAt: A.Expr | undefined;
  let scheduleAt: A.Expr | undefined;
  let microbatches: { n: number; at: A.Expr } | undefined;
  for (const f of auto
    ? []
    : block('parallel', '`parallel` is a block (`parallel: { data: 8, zero: 2, offload: [optimizer] }`) or `auto`')) {
    const v = f.value;
    // a count of GPUs (or micro-batches), a whole number ≥ 1
    const count = (what: string) => {
      const n = wholeAtLeast(v, 1);
      if (n === undefined) bad(v, `\`${f.key.name}\` is ${what}, a whole number ≥ 1`);
      return n;
    };
    if (f.key.name === 'data') parallel.data = count('the number of data-parallel GPUs') ?? parallel.data;
    else if (f.key.name === 'zero') {
      const n = wholeAtLeast(v, 0);
      if (n === undefined || n > 3) bad(v, '`zero` is a ZeRO stage: 0, 1, 2 or 3');
      else parallel.zero = n as 0;
    } else if (f.key.name === 'expert') {
      const n = count("the number of GPUs each MoE layer's experts are split over");
      if (n !== undefined) parallel.expert = n;
    } else if (f.key.name === 'tensor') {
      const n = count('the number of GPUs each pair of linear layers is split over');
      if (n !== undefined) parallel.tensor = n;
    } else if (f.key.name === 'pipeline') {
      const n = count('the number of pipeline stages (GPUs per pipeline)');
      if (n !== undefined) parallel.pipeline = n;
    } else if (f.key.name === 'microbatches') {
      const n = count('the number of micro-batches each step runs');
      if (n !== undefined) microbatches = { n, at: v };
    } else if (f.key.name === 'schedule') {
      const s = scheduleOf(v);
      if (!s)
        bad(
          v,
          'a pipeline schedule is `gpipe`, `1f1b` or `interleaved(2)` (model chunks per GPU)',
          nameOf(v) ? didYouMean(nameOf(v)!, ['gpipe', '1f1b', 'interleaved']) : undefined,
        );
      else {
        parallel.schedule = s;
        scheduleAt = v;
      }
    } else if (f.key.name === 'sequence') {
      if (v.kind !== 'bool') bad(v, '`sequence` is `true` or `false`');
      else {
        parallel.sequence = v.value;
        sequenceAt = v;
      }
    } else if (f.key.name === 'offload') {
      for (const i of v.kind === 'list' ? v.items : [v]) {
        const n = nameOf(i);
        if (n !== 'optimizer' && n !== 'params')
          bad(
            i,
            'what can be offloaded to host memory: `optimizer`, `params`',
            n ? didYouMean(n, ['optimizer', 'params']) : undefined,
          );
        else if (!parallel.offload.includes(n)) parallel.offload.push(n);
      }
    } else
      out.push(
        diag(
          'FLX5001',
          f.key.span,
          `\`parallel\` has no field \`${f.key.name}\``,
          didYouMean(f.key.name, PARALLEL_FIELDS) ?? `it takes ${PARALLEL_FIELDS.map((x) => `\`${x}\``).join(', ')}`,
        ),
      );
  }
  if (parallel.sequence && (parallel.tensor ?? 1) <= 1) {
    bad(
      sequenceAt!,
      'sequence parallelism splits the tokens between tensor-parallel layers: it needs `tensor` of 2 or more',
      'add `tensor: 2` (or more) beside it',
    );
    delete parallel.sequence;
  }
  if (parallel.schedule && (parallel.pipeline ?? 1) <= 1) {
    bad(scheduleAt!, 'a schedule orders the micro-batches of a pipeline: it needs `pipeline` of 2 or more');
    delete parallel.schedule;
  }
  if ((parallel.pipeline ?? 1) > 1 && parallel.zero >= 2) {
    bad(
      block('parallel', '').find((f) => f.key.name === 'zero')!.value,
      `ZeRO-${parallel.zero} shards the ${parallel.zero === 2 ? 'gradients' : 'parameters'} every micro-batch of a ` +
        'pipeline stage needs again',
      'use `zero: 1` (optimizer state) with `pipeline`, as Megatron and DeepSpeed do',
    );
    parallel.zero = 1;
  }
  // `microbatches: M` is gradient accumulation by another name: M runs of the micro-batch B a step on each replica
  if (microbatches && task.kind !== 'train') bad(microbatches.at, '`microbatches` is for a train plan');
  else if (microbatches && batch && batch.global !== batch.micro * parallel.data * microbatches.n)
    bad(
      microbatches.at,
      `\`batch\` runs ${batch.global / (batch.micro * parallel.data)} micro-batches a step on each data-parallel ` +
        `rank, not ${microbatches.n}`,
      'give one of `batch` and `microbatches`',
    );
  else if (microbatches && !batch) {
    const micro = bind['B'];
    if (micro === undefined)
      bad(microbatches.at, '`microbatches` needs the micro-batch size', 'bind it: `bind: { B: 4 }`');
    else batch = { micro, global: micro * parallel.data * microbatches.n };
  }
  // the global batch is over every data-parallel rank: each runs global / (micro · data) micro-batches a step
  if (batch && batch.global % (batch.micro * parallel.data)) {
    const per = batch.micro * parallel.data;
    bad(
      batchField!.value,
      `the micro-batch (${batch.micro}) times the data-parallel ranks (${parallel.data}) does not divide the global ` +
        `batch (${batch.global})`,
      `a global batch of ${Math.ceil(batch.global / per) * per} runs ${Math.ceil(batch.global / per)} on each rank`,
    );
    batch = undefined;
  }

  const fuse: PlanConfig['fuse'] = [];
  const ff = fields.get('fuse');
  if (ff) {
    if (ff.value.kind !== 'list') bad(ff.value, '`fuse` is a list: `fuse: [elementwise, moe]`');
    else
      for (const i of ff.value.items) {
        const n = nameOf(i);
        if (n !== 'elementwise' && n !== 'moe')
          bad(i, 'fusions are `elementwise` and `moe`', n ? didYouMean(n, ['elementwise', 'moe']) : undefined);
        else fuse.push(n);
      }
  }
  const int = (k: string, dflt: number, min: number): number => {
    const f = fields.get(k);
    if (!f) return dflt;
    const n = wholeAtLeast(f.value, min);
    if (n === undefined) bad(f.value, `\`${k}\` must be a whole number ≥ ${min}`);
    return n ?? dflt;
  };
  const seed = int('seed', 0, 0);
  const steps = int('steps', 10, 1);
  let data: PlanConfig['data'];
  const df = fields.get('data');
  if (df) {
    const v = df.value;
    const path = v.kind === 'call' && nameOf(v.callee) === 'text' ? v.args.find((a) => !a.name)?.value : undefined;
    const split = v.kind === 'call' ? v.args.find((a) => a.name?.name === 'split')?.value : undefined;
    if (path?.kind !== 'string')
      bad(
        v,
        '`data` is `text("file.txt", split: 0.9)`: a character-level corpus for the inputs `tokens` and `targets`',
      );
    else if (split && (split.kind !== 'number' || !(split.value > 0 && split.value < 1)))
      bad(split, '`split` is the training fraction, between 0 and 1');
    else {
      const file = resolve(dirname(file0.abs), path.value);
      if (!existsSync(file))
        out.push(
          diag(
            'FLX6001',
            path.span,
            `data file not found: ${displayPath(file)} (resolved against ` +
              `${displayPath(dirname(file0.abs))}, the folder of this .flex file)`,
            'paths are relative to this .flex file',
          ),
        );
      else data = { kind: 'text', file: displayPath(file), split: split?.kind === 'number' ? split.value : 0.9 };
    }
  }

  if (out.length > before || !model) return undefined;
  const parsed = PlanConfig.safeParse({
    name: p.name.name,
    model: model.decl.name.name,
    modelArgs,
    hardware,
    bind,
    ...(batch ? { batch } : {}),
    task,
    memory,
    checkpoint,
    placement,
    ...(blocks !== undefined ? { blocks } : {}),
    fuse,
    attention,
    target,
    precision,
    parallel,
    seed,
    steps,
    ...(data ? { data } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = fields.get(String(issue.path[0]));
    out.push(
      diag('FLX5007', (field ?? p.name).span, `plan setting \`${issue.path.join('.')}\` is invalid: ${issue.message}`),
    );
    return undefined;
  }
  return { config: parsed.data, model };
}

/**
 * `train { … }`, `finetune { lora: { … }, … }` (training with a frozen base and LoRA adapters) or `infer [{ prefill,
 * decode, kv_cache }]`.
 */
function parseTask(tf: A.Field | undefined, out: Diagnostic[]): PlanConfig['task'] {
  const bad: Bad = (e, msg, hint) => void out.push(diag('FLX5007', e.span, msg, hint));
  const kinds = ['train', 'finetune', 'infer'];
  if (!tf) return { kind: 'infer' };
  const kind = nameOf(tf.value);
  if (!kind || !kinds.includes(kind)) {
    bad(
      tf.value,
      '`task` is `train { … }`, `finetune { lora: { … } }` or `infer`',
      kind ? didYouMean(kind, kinds) : undefined,
    );
    return { kind: 'infer' };
  }
  const body = tf.body ?? [];
  const unknown = (f: A.Field, keys: string[]) =>
    out.push(
      diag(
        'FLX5001',
        f.key.span,
        `\`${kind}\` has no field \`${f.key.name}\``,
        didYouMean(f.key.name, keys) ?? `it takes ${keys.map((k) => `\`${k}\``).join(', ')}`,
      ),
    );
  if (kind === 'infer') {
    if (!body.length) return { kind: 'infer' };
    const serve: ServeConfig = { prefill: 1, decode: 0, kvCache: true };
    for (const f of body) {
      if (f.key.name === 'prefill' || f.key.name === 'decode') {
        const n = wholeAtLeast(f.value, f.key.name === 'prefill' ? 1 : 0);
        if (n === undefined) bad(f.value, `\`${f.key.name}\` is a number of tokens`);
        else serve[f.key.name] = n;
      } else if (f.key.name === 'kv_cache') {
        if (f.value.kind !== 'bool') bad(f.value, '`kv_cache` is `true` or `false`');
        else serve.kvCache = f.value.value;
      } else unknown(f, ['prefill', 'decode', 'kv_cache']);
    }
    if (!body.some((f) => f.key.name === 'prefill'))
      bad(tf, '`infer { … }` needs `prefill: N`, the prompt length in tokens');
    return { kind: 'infer', serve };
  }
  let optimizer: OptimizerConfig = { kind: 'adam', ...OPT_DEFAULTS.adam, weightDecay: [] };
  let loss = 'loss';
  let lora: LoraConfig | undefined;
  const keys = kind === 'finetune' ? ['lora', 'optimizer', 'loss'] : ['optimizer', 'loss'];
  for (const f of body) {
    if (f.key.name === 'loss') {
      const n = nameOf(f.value) ?? (f.value.kind === 'string' ? f.value.value : undefined);
      if (!n) bad(f.value, '`loss` names a model output');
      else loss = n;
    } else if (f.key.name === 'optimizer') optimizer = parseOptimizer(f.value, bad) ?? optimizer;
    else if (f.key.name === 'lora' && kind === 'finetune') lora = parseLora(f.value, bad);
    else unknown(f, keys);
  }
  if (kind === 'finetune' && !body.some((f) => f.key.name === 'lora'))
    bad(tf, '`finetune` needs `lora: { rank: 16, targets: [wq, wv] }`', 'to train every weight, use `train`');
  return { kind: 'train', loss, optimizer, ...(lora ? { lora } : {}) };
}

function parseLora(e: A.Expr, bad: Bad): LoraConfig | undefined {
  if (e.kind !== 'object') return void bad(e, '`lora` is a block: `lora: { rank: 16, alpha: 32, targets: [wq, wv] }`');
  let rank: number | undefined;
  let alpha: number | undefined;
  let base: 'nf4' | undefined;
  const targets: string[] = [];
  for (const f of e.fields) {
    if (f.key.name === 'rank') {
      rank = wholeAtLeast(f.value, 1);
      if (rank === undefined) bad(f.value, 'the LoRA `rank` is a whole number ≥ 1');
    } else if (f.key.name === 'alpha') {
      if (f.value.kind !== 'number' || f.value.unit || !(f.value.value > 0))
        bad(f.value, 'the LoRA `alpha` is a positive number (the update is scaled by alpha / rank)');
      else alpha = f.value.value;
    } else if (f.key.name === 'targets') {
      for (const i of f.value.kind === 'list' ? f.value.items : [f.value]) {
        const n = nameOf(i) ?? (i.kind === 'string' ? i.value : undefined);
        if (!n)
          bad(i, 'a LoRA target is a parameter name (`wq`) or a pattern of parameter paths (`"layer.*.attn.wq"`)');
        else targets.push(n);
      }
    } else if (f.key.name === 'base') {
      if (nameOf(f.value) === 'nf4') base = 'nf4';
      else
        bad(
          f.value,
          'the frozen base is stored as `nf4` (QLoRA’s 4-bit NormalFloat) or, without `base`, in the plan’s precision',
        );
    } else
      bad(
        f.key,
        `\`lora\` has no field \`${f.key.name}\``,
        didYouMean(f.key.name, ['rank', 'alpha', 'targets', 'base']) ??
          'it takes `rank`, `alpha`, `targets` and `base`',
      );
  }
  if (rank === undefined || !targets.length)
    return void bad(e, '`lora` needs `rank` and `targets`: `lora: { rank: 16, targets: [wq, wv] }`');
  return { rank, alpha: alpha ?? rank, targets, ...(base ? { base } : {}) };
}

function parseOptimizer(e: A.Expr, bad: Bad): OptimizerConfig | undefined {
  const callee = e.kind === 'call' ? e.callee : e;
  const kind = nameOf(callee);
  if (kind !== 'sgd' && kind !== 'adam' && kind !== 'adamw') {
    bad(
      callee,
      'the optimizer is `sgd(…)`, `adam(…)` or `adamw(…)`',
      kind ? didYouMean(kind, ['sgd', 'adam', 'adamw']) : undefined,
    );
    return undefined;
  }
  const o: OptimizerConfig = { kind, ...OPT_DEFAULTS[kind], weightDecay: [] };
  const keys = ['lr', 'beta1', 'beta2', 'eps', 'weight_decay'];
  for (const a of e.kind === 'call' ? e.args : []) {
    const k = a.name?.name;
    if (!k || !keys.includes(k)) {
      bad(
        a.name ? { ...a.value, span: a.name.span } : a.value,
        k ? `\`${kind}\` has no setting \`${k}\`` : 'optimizer settings are named: `adam(lr: 3e-4)`',
        k ? didYouMean(k, keys) : undefined,
      );
      continue;
    }
    const v = a.value;
    if (k === 'weight_decay') {
      const n = numberOf(v);
      if (n !== undefined && n < 0) bad(v, `a weight decay is a number ≥ 0, got ${n}`);
      else if (n !== undefined) o.weightDecay = [{ pattern: '**', value: n }];
      else if (v.kind === 'object') {
        o.weightDecay = [];
        for (const f of v.fields) {
          if (f.value.kind !== 'number' || f.value.unit || f.value.value < 0)
            bad(f.value, 'a weight decay is a number ≥ 0');
          else o.weightDecay.push({ pattern: f.key.name, value: f.value.value });
        }
      } else bad(v, '`weight_decay` is a number, or a block of parameter-name patterns: `{ "conv.*": 5e-4 }`');
      continue;
    }
    const n = numberOf(v);
    if (n === undefined) bad(v, `\`${k}\` must be a number`);
    else if ((k === 'lr' || k === 'eps') && n <= 0) bad(v, `\`${k}\` must be more than 0, got ${n}`);
    else if ((k === 'beta1' || k === 'beta2') && !(n >= 0 && n < 1))
      bad(v, `\`${k}\` must be from 0 up to (not including) 1, got ${n}`);
    else o[k as 'lr'] = n;
  }
  return o;
}

/** A plain number, negative ones included (`-0.1` is the minus of a literal); undefined for anything else. */
function numberOf(e: A.Expr): number | undefined {
  if (e.kind === 'number' && !e.unit) return e.value;
  if (e.kind === 'neg' && e.operand.kind === 'number' && !e.operand.unit) return -e.operand.value;
  return undefined;
}

/** `*` matches within one name segment, `**` across segments. */
export function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\*\*/g, '\uE000')
      .replace(/\*/g, '[^.]*')
      .replace(/\uE000/g, '.*')}$`,
  );
  return re.test(name);
}

/** Where a diagnostic about `parallel.<key>` points: that field, else the `parallel` field, else the plan's name. */
export function parallelAt(decl: A.PlanDecl, key?: string): { span: Span } {
  const par = decl.fields.find((f) => f.key.name === 'parallel');
  return (
    (key && par?.value.kind === 'object' ? par.value.fields.find((f) => f.key.name === key) : undefined) ??
    par ??
    decl.name
  );
}
