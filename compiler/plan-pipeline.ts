import { diag, type Diagnostic } from '../grammar/diagnostics.ts';
import type * as A from '../grammar/ast.ts';
import type { Module } from './ir/graph.ts';
import { BudgetInfeasibleError, TierBudgetError } from './passes/checkpoint.ts';
import { BlocksError } from './passes/block-nodes.ts';
import type { GraphSpec } from '../runtime/data/graph-spec.ts';
import { machineOf } from './cost/device.ts';
import type { HardwareSpec } from './sema/hardware.ts';
import { runPipeline, type PipelineOptions } from './passes/pipeline.ts';
import type { PlanConfig } from './sema/plan.ts';
import { fmtBytes } from './sema/units.ts';

/**
 * Runs the pass pipeline on a plan's forward module; a GPU budget no schedule meets is FLX4010 at the plan's `memory`.
 */
export function pipelinePlan(
  decl: A.PlanDecl,
  forward: Module,
  config: PlanConfig,
  opts: PipelineOptions & {
    feasibility?: boolean;
    hardware?: HardwareSpec | undefined;
    graphs?: (name: string) => GraphSpec;
  } = {},
): { module?: Module; diagnostics: Diagnostic[] } {
  const machine = opts.hardware && machineOf(opts.hardware);
  try {
    return {
      module: runPipeline(
        forward,
        {
          config,
          ...(opts.feasibility ? { feasibility: true } : {}),
          ...(machine ? { machine } : {}),
          ...(opts.graphs ? { graphs: opts.graphs } : {}),
        },
        opts,
      ),
      diagnostics: [],
    };
  } catch (e) {
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
    return { diagnostics: [d] };
  }
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
