import { diag, type Diagnostic } from '../grammar/diagnostics.ts';
import type * as A from '../grammar/ast.ts';
import type { Module } from './ir/graph.ts';
import { BudgetInfeasibleError, TierBudgetError } from './passes/checkpoint.ts';
import { TensorSplitError } from './passes/partition-tensor.ts';
import { PipelineSplitError } from './passes/partition-pipeline.ts';
import { SequenceSplitError } from './passes/partition-sequence.ts';
import { ExpertSplitError } from './passes/partition-expert.ts';
import { BlocksError } from './passes/block-nodes.ts';
import { graphsRead, type GraphSpec } from '../runtime/data/graph-spec.ts';
import { machineOf } from './cost/device.ts';
import type { HardwareSpec } from './sema/hardware.ts';
import { runPipeline, type PipelineOptions } from './passes/pipeline.ts';
import { parallelAt, type PlanConfig } from './sema/plan.ts';
import { fmtBytes } from './sema/units.ts';

type PlanOptions = PipelineOptions & {
  feasibility?: boolean;
  hardware?: HardwareSpec | undefined;
  graphs?: (name: string) => GraphSpec;
  /** Whether a budget no plan meets is searched for the least that works (default true). */
  leastSearch?: boolean;
};

/** `blocks: auto` tries 1, 2, 4, … node blocks, at most this many. */
const AUTO_BLOCKS = 64;

/**
 * Runs the pass pipeline on a plan's forward module; a GPU budget no schedule meets is FLX4010 at the plan's `memory`.
 * `blocks: auto`: the fewest node blocks (1, 2, 4, … up to AUTO_BLOCKS or the graph's nodes) whose plan meets the
 * budgets (fewer blocks, fewer ops and copies); when none does, FLX4010 for the number whose plan needs the least
 * budget. `blocks`: the number chosen.
 */
export function pipelinePlan(
  decl: A.PlanDecl,
  forward: Module,
  config: PlanConfig,
  opts: PlanOptions = {},
): { module?: Module; diagnostics: Diagnostic[]; blocks?: number } {
  if (config.blocks !== 'auto') return pipelineOnce(decl, forward, config, opts);
  const graphStep = graphsRead(forward).length > 0;
  if (!graphStep) return pipelineOnce(decl, forward, { ...config, blocks: 1 }, opts);
  // none fits: the attempt that needs the least (each measured without the least-budget search: a budget it meets)
  let least: { blocks: number; smallest: number; diagnostics: Diagnostic[] } | undefined;
  let tried = 1;
  for (let P = 1; P <= AUTO_BLOCKS; tried = P, P *= 2) {
    const r = pipelineOnce(decl, copyModule(forward), { ...config, blocks: P }, { ...opts, leastSearch: false });
    if (r.module) return { ...r, blocks: P };
    const code = r.diagnostics[0]?.code;
    if (code === 'FLX5016') break; // more blocks than the graph has nodes
    if (code !== 'FLX4010' || r.smallest === undefined) return r;
    if (!least || r.smallest < least.smallest) least = { blocks: P, smallest: r.smallest, diagnostics: r.diagnostics };
  }
  if (!least) throw new Error('internal: blocks: auto tried no number of blocks');
  const note = ` with ${least.blocks} node block${least.blocks > 1 ? 's' : ''} (\`blocks: auto\` tried 1 to ${tried})`;
  const diagnostics = least.diagnostics.map((d) => (d.code === 'FLX4010' ? { ...d, message: d.message + note } : d));
  return { diagnostics, blocks: least.blocks };
}

/** The pipeline with `blocks` given; `smallest`: the least budget that works, when the GPU budget is not met. */
function pipelineOnce(
  decl: A.PlanDecl,
  forward: Module,
  config: PlanConfig,
  opts: PlanOptions,
): { module?: Module; diagnostics: Diagnostic[]; smallest?: number } {
  const machine = opts.hardware && machineOf(opts.hardware);
  try {
    return {
      module: runPipeline(
        forward,
        {
          config,
          ...(opts.feasibility ? { feasibility: true } : {}),
          ...(opts.leastSearch === false ? { leastSearch: false } : {}),
          ...(machine ? { machine } : {}),
          ...(opts.graphs ? { graphs: opts.graphs } : {}),
        },
        opts,
      ),
      diagnostics: [],
    };
  } catch (e) {
    if (e instanceof TensorSplitError) return { diagnostics: [tensorSplitDiagnostic(decl, e)] };
    if (e instanceof PipelineSplitError) return { diagnostics: [pipelineSplitDiagnostic(decl, e)] };
    if (e instanceof SequenceSplitError) {
      const at = parallelAt(decl, 'sequence');
      const message = `\`sequence: true\` splits nothing: ${e.tokens} tokens do not divide over ${e.tensor} ranks`;
      const hint = `bind the sequence to a multiple of ${e.tensor}, or leave \`sequence\` out`;
      return { diagnostics: [diag('FLX5020', at.span, message, hint)] };
    }
    if (e instanceof ExpertSplitError)
      return { diagnostics: [diag('FLX5013', parallelAt(decl, 'expert').span, e.why, e.hint)] };
    if (e instanceof BlocksError) {
      const at = decl.fields.find((f) => f.key.name === 'blocks') ?? decl.name;
      const hint = `give \`blocks: ${e.nodes}\` or fewer`;
      return {
        diagnostics: [diag('FLX5016', at.span, `\`blocks: ${e.blocks}\`: the graph has ${e.nodes} nodes`, hint)],
      };
    }
    const field = decl.fields.find((f) => f.key.name === 'memory') ?? decl.name;
    if (e instanceof TierBudgetError) {
      const value = 'value' in field ? field.value : undefined;
      const at = (value?.kind === 'object' ? value.fields.find((f) => f.key.name === e.tier) : undefined) ?? field;
      const message =
        `\`placement: ${config.placement}\` keeps ${e.needed} bytes (${fmtBytes(e.needed)}) in ` +
        `${e.tier === 'ssd' ? 'the SSD tier' : 'host memory'}, more than \`memory.${e.tier}\` (${fmtBytes(e.budget)})`;
      const hint = `give \`memory: { ${e.tier}: ${atLeast(e.needed)} }\` or more, or \`placement: auto\``;
      return { diagnostics: [diag('FLX4011', at.span, message, hint)] };
    }
    if (!(e instanceof BudgetInfeasibleError)) throw e;
    const over =
      `the training step needs ${e.needed} bytes (${fmtBytes(e.needed)}) with checkpoint: ` +
      `${e.policy}, more than the GPU budget of ${e.budget} bytes (${fmtBytes(e.budget)})`;
    const d =
      e.autoFits !== undefined
        ? diag(
            'FLX4010',
            field.span,
            over,
            `\`checkpoint: auto\` fits the budget: ${e.autoFits} bytes (${fmtBytes(e.autoFits)})`,
          )
        : diag(
            'FLX4010',
            field.span,
            `${over}; the smallest budget that works is ${e.smallest} bytes (${fmtBytes(e.smallest)})` +
              (e.host ? ` with ${config.memory.host === undefined ? 'no host memory' : 'this much host memory'}` : ''),
            e.host
              ? `give \`memory: { gpu: ${atLeast(e.smallest)} }\` or more, with \`checkpoint: auto\`; or, with ` +
                  `\`placement: auto\`, \`memory: { host: ${atLeast(e.host.bytes)} }\` or more: with every ` +
                  'parameter, input and activation waiting in host memory ' +
                  `the step needs ${fmtBytes(e.host.gpu)} of GPU memory`
              : `give \`memory: { gpu: ${atLeast(e.smallest)} }\` or more, with \`checkpoint: auto\``,
          );
    return { diagnostics: [d], smallest: e.smallest };
  }
}

/** FLX5017 at the plan's `tensor`: what it could not split, and what would. */
export function tensorSplitDiagnostic(decl: A.PlanDecl, e: TensorSplitError): Diagnostic {
  const at = parallelAt(decl, 'tensor');
  const widths = [...new Set(e.widths)];
  const heads = [...new Set(e.heads)];
  const parts = [
    ...(widths.length ? [`the widths of its pairs (${widths.join(', ')})`] : []),
    ...(heads.length ? [`its attention's heads (${heads.join(', ')})`] : []),
  ];
  const why = parts.length
    ? `${parts.join(' and ')} are not multiples of ${e.tensor}`
    : 'the model has no pair of linear layers (x @ W1, pointwise ops, then @ W2) to split';
  const sizes = [...widths, ...heads];
  const hint = sizes.length ? `give a \`tensor\` that divides ${sizes.join(' and ')}` : 'leave `tensor` out (or 1)';
  return diag('FLX5017', at.span, `\`tensor: ${e.tensor}\` splits nothing: ${why}`, hint);
}

/** FLX5018 at the plan's `pipeline`: more stages than the model has layers. */
export function pipelineSplitDiagnostic(decl: A.PlanDecl, e: PipelineSplitError): Diagnostic {
  const at = parallelAt(decl, 'pipeline');
  const why = e.layers
    ? `the model has ${e.layers} layer${e.layers === 1 ? '' : 's'}`
    : 'the model has no layers to cut between (a `repeat`)';
  const hint = e.layers ? `give at most ${e.layers} stages in all` : 'leave `pipeline` out (or 1)';
  return diag('FLX5018', at.span, `${e.stages} pipeline stages need a layer each, but ${why}`, hint);
}

/** A size in KiB, MiB or GiB with two decimals, rounded up so that it is at least n bytes. */
function atLeast(n: number): string {
  const [unit, size] = n >= 2 ** 30 ? ['GiB', 2 ** 30] : n >= 2 ** 20 ? ['MiB', 2 ** 20] : ['KiB', 2 ** 10];
  return `${(Math.ceil((n / size) * 100) / 100).toFixed(2)} ${unit}`;
}

/** Passes build new modules but share values; keep the forward module intact for callers. */
export function copyModule(m: Module): Module {
  return { ...m, values: [...m.values], outputs: [...m.outputs], updates: [...m.updates] };
}
