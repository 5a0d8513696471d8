import { moeLayers } from '../cost/moe.ts';
import type * as A from '../../grammar/ast.ts';
import { addDiagnostics, diag, didYouMean, type Diagnostic, type Span } from '../../grammar/diagnostics.ts';
import { leafName, type Module, type Value } from '../ir/graph.ts';
import { loraTargets } from '../passes/lora.ts';
import { resolve } from 'node:path';
import { loadText } from '../../runtime/data/text.ts';
import { DataError } from '../../runtime/data/graph.ts';
import { Elaborator, type ServePhase } from '../sema/elaborate.ts';
import { type LoraConfig, parallelAt, type PlanConfig, type ResolvedPlan } from '../sema/plan.ts';
import type { Program } from '../sema/program.ts';
import type { EVal } from '../sema/values.ts';
import { checkHardware, type HardwareSpec } from '../sema/hardware.ts';
import { fmtBytes } from '../sema/units.ts';

export interface Lowered {
  /** The forward graph, before any pass. */
  forward: Module;
  config: PlanConfig;
  /** The plan's hardware (`on: …`), presets resolved. */
  hardware?: HardwareSpec;
  /**
   * Serving (`infer { prefill, decode }`): `forward` is the prompt's pass; these are decode steps at the first and last
   * context length.
   */
  decode?: DecodeStep[];
  /** Each `repeat`'s full count (lowered with `repeatLimit`, the forward holds fewer iterations). */
  repeats?: number[];
}

export interface DecodeStep {
  /** Tokens the step attends to, its own included. */
  context: number;
  forward: Module;
}

/** The plans of the entry file; picks one by name, or the only one. */
export function selectPlan(
  program: Program,
  name: string | undefined,
): { plan?: A.PlanDecl; diagnostics: Diagnostic[] } {
  const plans = program.entry.ast.decls.filter((d): d is A.PlanDecl => d.kind === 'plan');
  const names = plans.map((p) => p.name.name);
  // the caret goes where the user looks: the plan meant, the plans there are, or the end of a file without any
  const s = program.entry.ast.span;
  const where = (p: A.PlanDecl | undefined) =>
    p?.name.span ?? { file: s.file, line: s.endLine, column: s.endColumn, endLine: s.endLine, endColumn: s.endColumn };
  if (name !== undefined) {
    const plan = plans.find((p) => p.name.name === name);
    if (plan) return { plan, diagnostics: [] };
    const hint = didYouMean(name, names);
    const meant = hint ? plans.find((p) => hint.includes(`\`${p.name.name}\``)) : plans[0];
    return {
      diagnostics: [
        diag(
          'FLX5008',
          where(meant),
          `${program.entry.path} has no plan \`${name}\``,
          hint ?? (names.length ? `its plans: ${names.join(', ')}` : 'it declares no plan'),
        ),
      ],
    };
  }
  if (plans.length === 1) return { plan: plans[0]!, diagnostics: [] };
  return {
    diagnostics: [
      diag(
        'FLX5008',
        where(plans[0]),
        plans.length
          ? `${program.entry.path} has ${plans.length} plans; choose one with --plan`
          : `${program.entry.path} declares no plan`,
        plans.length ? `its plans: ${names.join(', ')}` : 'add `plan name { model: … }`',
      ),
    ],
  };
}

/** Binds a plan (its settings resolved by checking): elaborates its model with every size fixed. */
export function lowerPlan(
  program: Program,
  plan: A.PlanDecl,
  r: ResolvedPlan,
  opts: { evaluation?: boolean; repeatLimit?: number } = {},
): { lowered?: Lowered; diagnostics: Diagnostic[] } {
  const out: Diagnostic[] = [];
  const { model } = r;
  const config: PlanConfig = opts.evaluation
    ? { ...r.config, name: `${r.config.name}_eval`, task: { kind: 'infer' } }
    : r.config;
  const args = new Map<string, EVal>(
    Object.entries(config.modelArgs).map(([k, v]) => [
      k,
      typeof v === 'number' ? { kind: 'num', n: v } : { kind: 'bool', b: v },
    ]),
  );
  const serve = config.task.kind === 'infer' ? config.task.serve : undefined;
  const seq = serve ? sequenceSymbol(model.decl as A.ModelDecl) : undefined;
  if (serve) {
    const span = plan.fields.find((f) => f.key.name === 'task')!.span;
    if (!seq)
      return {
        diagnostics: [
          diag(
            'FLX5012',
            span,
            `serving feeds the model's input \`tokens: i32[B, T]\`; model \`${config.model}\` has none`,
          ),
        ],
      };
    if (config.bind[seq] !== undefined)
      return {
        diagnostics: [
          diag(
            'FLX5012',
            plan.fields.find((f) => f.key.name === 'bind')!.span,
            `\`${seq}\` is the sequence length, which \`infer { prefill, decode }\` sets`,
            `remove \`${seq}\` from \`bind\``,
          ),
        ],
      };
  }
  const capacity = serve ? serve.prefill + serve.decode : 0;
  const elaborate = (binds: Record<string, number>, phase?: ServePhase) => {
    const el = new Elaborator(program, {
      mode: 'lower',
      training: config.task.kind === 'train',
      binds: new Map(Object.entries(binds)),
      ...(phase ? { serve: phase } : {}),
      ...(opts.repeatLimit !== undefined ? { repeatLimit: opts.repeatLimit } : {}),
    });
    return { el, forward: el.model(model, args, config.name) };
  };
  const cached = serve?.kvCache && serve.decode > 0;
  const { el, forward } = elaborate(
    serve ? { ...config.bind, [seq!]: serve.prefill } : config.bind,
    cached ? { phase: 'prefill', past: 0, capacity } : undefined,
  );
  const decode: DecodeStep[] = [];
  if (serve && el.diagnostics.length === 0)
    for (const context of [...new Set([serve.prefill + 1, capacity])].filter(() => serve.decode > 0)) {
      const step = cached
        ? elaborate({ ...config.bind, [seq!]: 1 }, { phase: 'decode', past: context - 1, capacity })
        : elaborate({ ...config.bind, [seq!]: context });
      addDiagnostics(out, step.el.diagnostics);
      decode.push({ context, forward: { ...step.forward, name: `${config.name}_decode_${context}` } });
    }
  const bound = Object.entries(config.bind)
    .map(([k, v]) => `${k} = ${v}`)
    .join(', ');
  const modelField = plan.fields.find((f) => f.key.name === 'model');
  const frame = {
    span: modelField?.value.span ?? plan.name.span,
    note: `while lowering plan \`${config.name}\`${bound ? ` with ${bound}` : ''}`,
  };
  for (const d of el.diagnostics) out.push({ ...d, trace: [...(d.trace ?? []), frame] });
  const bindField = plan.fields.find((f) => f.key.name === 'bind');
  if (bindField?.value.kind === 'object')
    for (const f of bindField.value.fields)
      if (!el.usedSymbols.has(f.key.name))
        out.push(
          diag(
            'FLX5004',
            f.key.span,
            `\`${f.key.name}\` is bound but no size of model \`${config.model}\` is called that`,
            didYouMean(f.key.name, el.usedSymbols),
          ),
        );
  if (config.data && !out.length)
    addDiagnostics(out, bindText(forward, config, plan, opts.evaluation ? 'val' : 'train'));
  if (config.task.kind === 'train' && !out.length) {
    const lossName = config.task.loss;
    const loss = forward.outputs.find((o) => o.name === lossName);
    const span = plan.fields.find((f) => f.key.name === 'task')?.span ?? plan.name.span;
    if (!loss)
      out.push(
        diag(
          'FLX3060',
          span,
          `plan \`${config.name}\` trains on output \`${lossName}\`, which model \`${config.model}\` does not declare`,
          didYouMean(
            lossName,
            forward.outputs.map((o) => o.name),
          ) ?? 'name the loss with `task: train { loss: name }`',
        ),
      );
    else if (loss.value.type.shape.length !== 0 || loss.value.type.dtype[0] !== 'f')
      out.push(
        diag(
          'FLX3061',
          span,
          `the loss \`${lossName}\` must be a float scalar, but is ` +
            `${loss.value.type.dtype}[${loss.value.type.shape.join(', ')}]`,
          'reduce it, e.g. with `mean(…)`',
        ),
      );
    else if (!forward.values.some((v) => v.op === 'param'))
      out.push(diag('FLX3062', span, `model \`${config.model}\` has no parameters to train`));
    else if (config.task.lora) addDiagnostics(out, checkLora(forward, config.task.lora, span, config.model));
  }
  if (out.length) return { diagnostics: out };
  const hw = config.hardware ? program.scopes.get(program.entry)?.get(config.hardware) : undefined;
  const hardware = hw?.decl.kind === 'hardware' ? checkHardware(hw.decl, hw.file, program, []) : undefined;
  const gpus = hardware?.gpu?.count;
  // what the hardware cannot do for `parallel`, said at that field
  // at the `parallel` field, or at its field `key` when given
  const refuse = (message: string, hint: string, key?: string) => ({
    diagnostics: [diag('FLX5013', parallelAt(plan, key).span, message, hint)],
  });
  const tiers = checkTiers(plan, config, hardware);
  if (tiers.length) return { diagnostics: tiers };
  const { data, offload } = config.parallel;
  const tensor = config.parallel.tensor ?? 1;
  const pipeline = config.parallel.pipeline ?? 1;
  const axes = [
    ['data', data],
    ['tensor', tensor],
    ['pipeline', pipeline],
  ].filter(([, n]) => (n as number) > 1) as [string, number][];
  const world = data * tensor * pipeline;
  if (gpus !== undefined && world > gpus)
    return refuse(
      axes.length > 1
        ? `${axes.map(([k, n]) => `\`${k}: ${n}\``).join(' × ')} needs ${world} GPUs, but hardware ` +
            `\`${config.hardware}\` has ${gpus}`
        : `\`${axes[0]![0]}: ${world}\` needs ${world} GPUs, but hardware \`${config.hardware}\` has ${gpus}`,
      axes.length > 1 || axes[0]![0] !== 'data'
        ? `use at most ${gpus} GPUs in all, or hardware with more GPUs (\`gpu x ${world}: …\`)`
        : `use \`data: ${gpus}\` or fewer, or hardware with more GPUs (\`gpu x ${data}: …\`)`,
    );
  if (gpus !== undefined && world > 1 && !hardware?.network && !hardware?.node)
    return refuse(
      `${axes.length > 1 ? axes.map(([k]) => k).join(' and ') : axes[0]![0]} parallelism over ${world} GPUs needs a ` +
        `network between them; hardware \`${config.hardware}\` declares none`,
      'add `network { topology: nvlink, bandwidth: …, latency: … }` to the hardware',
    );
  const expert = config.parallel.expert ?? 1;
  if (expert > 1) {
    if (data % expert !== 0)
      return refuse(
        `\`expert: ${expert}\` splits experts over groups of the data-parallel GPUs, but ${expert} does not divide ` +
          `\`data: ${data}\``,
        `use a divisor of ${data}, or \`data\` a multiple of ${expert}`,
        'expert',
      );
    const layers = moeLayers(forward);
    const uneven = layers.find((l) => l.experts % expert !== 0);
    if (!layers.length)
      return refuse(
        `\`expert: ${expert}\` splits the experts of MoE layers, but model \`${config.model}\` has none`,
        'remove `expert`, or use a mixture of experts (`MoE` in std/nn)',
        'expert',
      );
    if (uneven)
      return refuse(
        `\`expert: ${expert}\` cannot split an MoE layer's ${uneven.experts} experts evenly`,
        `use a divisor of ${uneven.experts}`,
        'expert',
      );
  }
  if (hardware && offload.length && (!hardware.host || !hardware.links.some(joinsHost)))
    return refuse(
      `offloading ${offload.join(' and ')} needs host memory and a link to it; hardware ` +
        `\`${config.hardware}\` declares ${hardware.host ? 'no link between `gpu` and `host`' : 'no `host`'}`,
      'add `host { memory: …, bandwidth: … }` and `link gpu <-> host { bandwidth: … }` to the hardware',
    );
  return {
    lowered: {
      forward,
      config,
      ...(hardware ? { hardware } : {}),
      ...(decode.length ? { decode } : {}),
      ...(opts.repeatLimit !== undefined ? { repeats: el.repeats } : {}),
    },
    diagnostics: [],
  };
}

/** The size naming the sequence axis of the model's `tokens: i32[B, T]` input. */
function sequenceSymbol(m: A.ModelDecl): string | undefined {
  const tokens = m.body.find((s) => s.kind === 'input' && s.name.name === 'tokens');
  const type = tokens?.kind === 'input' && tokens.type.kind === 'tensorType' ? tokens.type : undefined;
  const dim = type?.dims.length === 2 ? type.dims[1] : undefined;
  return dim?.kind === 'name' ? dim.name : undefined;
}

/** Every LoRA target must name at least one weight a matmul reads (as `x @ W`). */
function checkLora(m: Module, cfg: LoraConfig, span: Span, model: string): Diagnostic[] {
  const weights = [
    ...new Set(
      m.values.filter((v) => v.op === 'param' && v.type.shape.length === 2).map((v) => leafName(v).split('.').at(-1)!),
    ),
  ];
  return loraTargets(m, cfg)
    .filter((t) => !t.params.length)
    .map((t) =>
      t.unusable.length
        ? diag(
            'FLX5011',
            span,
            `LoRA target \`${t.target}\` names ${leafName(t.unusable[0]!)}, which no matmul reads as \`x @ W\``,
            'LoRA adapts the weights of linear layers',
          )
        : diag(
            'FLX5011',
            span,
            `LoRA target \`${t.target}\` names no parameter of model \`${model}\``,
            didYouMean(t.target, weights) ?? `its matrix parameters: ${weights.slice(0, 12).join(', ')}`,
          ),
    );
}

/** Marks the model's `tokens` and `targets` inputs as fed by the plan's text corpus, after checking they fit it. */
function bindText(m: Module, config: PlanConfig, plan: A.PlanDecl, part: 'train' | 'val'): Diagnostic[] {
  const span = plan.fields.find((f) => f.key.name === 'data')!.value.span;
  const inputs = new Map(m.values.filter((v) => v.op === 'input').map((v) => [String(v.attrs['name']), v]));
  const tokens = inputs.get('tokens');
  const targets = inputs.get('targets');
  const ok = (v: Value | undefined) => v && v.type.dtype === 'i32' && v.type.shape.length === 2;
  if (!ok(tokens) || !ok(targets) || String(tokens!.type.shape) !== String(targets!.type.shape))
    return [
      diag(
        'FLX5010',
        span,
        `text data feeds the inputs \`tokens\` and \`targets\`, i32[B, ` +
          `T] each; model \`${config.model}\` does not declare them so`,
      ),
    ];
  let vocab: number;
  try {
    vocab = loadText(resolve(config.data!.file)).vocab.length;
  } catch (e) {
    if (e instanceof DataError) return [diag('FLX6002', span, e.message)];
    throw e;
  }
  const rows = m.values
    .filter((v) => v.op === 'gather' && v.inputs[1] === tokens)
    .map((v) => v.inputs[0]!.type.shape[0] as number);
  if (rows.some((r) => r < vocab))
    return [
      diag(
        'FLX6004',
        span,
        `the text has ${vocab} distinct characters, but the embedding of \`tokens\` has ${Math.min(...rows)} rows`,
        `set the model's vocabulary to at least ${vocab}`,
      ),
    ];
  tokens!.attrs['feed'] = `text:${part}:tokens`;
  targets!.attrs['feed'] = `text:${part}:targets`;
  return [];
}

const joinsHost = (l: { a: string; b: string }) => [l.a, l.b].includes('gpu') && [l.a, l.b].includes('host');

/**
 * A plan's memory budgets and placement against its hardware (when it names one): each budget is a tier the hardware
 * has (FLX5014) and no larger than it (FLX5015), said at the budget.
 */
function checkTiers(plan: A.PlanDecl, config: PlanConfig, hardware: HardwareSpec | undefined): Diagnostic[] {
  if (!hardware) return [];
  const field = plan.fields.find((f) => f.key.name === 'memory');
  const at = (tier: string) =>
    (field?.value.kind === 'object' ? field.value.fields.find((f) => f.key.name === tier) : undefined) ??
    field ??
    plan.name;
  const capacity: Record<'gpu' | 'host' | 'ssd', number | undefined> = {
    gpu: hardware.gpu ? Number(hardware.gpu.part['memory']) : undefined,
    host: hardware.host ? Number(hardware.host['memory']) : undefined,
    ssd: hardware.ssd ? Number(hardware.ssd['capacity']) : undefined,
  };
  const what = { gpu: 'GPU memory', host: 'host memory', ssd: 'an SSD' };
  const out: Diagnostic[] = [];
  for (const tier of ['gpu', 'host', 'ssd'] as const) {
    const budget = config.memory[tier];
    if (budget === undefined) continue;
    const cap = capacity[tier];
    if (cap === undefined)
      out.push(
        diag(
          'FLX5014',
          at(tier).span,
          `\`memory.${tier}\` is a budget for ${what[tier]}, which hardware \`${config.hardware}\` does not have`,
          `add \`${tier} { ${tier === 'ssd' ? 'capacity' : 'memory'}: … }\` to the hardware, or drop the budget`,
        ),
      );
    else if (budget > cap)
      out.push(
        diag(
          'FLX5015',
          at(tier).span,
          `\`memory.${tier}\` is ${fmtBytes(budget)}, more than the ${fmtBytes(cap)} of ` +
            `${tier === 'gpu' ? 'each GPU' : what[tier]} in hardware \`${config.hardware}\``,
          `a budget is at most what the tier holds: \`memory: { ${tier}: ${fmtBytes(cap)} }\` or less`,
        ),
      );
  }
  const placed = config.placement;
  if ((placed === 'host' || placed === 'ssd') && capacity[placed] === undefined) {
    const pf = plan.fields.find((f) => f.key.name === 'placement') ?? plan.name;
    out.push(
      diag(
        'FLX5014',
        pf.span,
        `\`placement: ${placed}\` places activations in ${what[placed]}, which hardware \`${config.hardware}\` ` +
          'does not have',
        `add \`${placed} { ${placed === 'ssd' ? 'capacity' : 'memory'}: … }\` to the hardware, ` +
          'or place on `gpu` or `auto`',
      ),
    );
  }
  return out;
}
