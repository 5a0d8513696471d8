import type * as A from '../grammar/ast.ts';
import { diag, type Diagnostic } from '../grammar/diagnostics.ts';
import { searchPartitions, type SearchResult } from './cost/search.ts';
import type { ResolvedPlan } from './sema/plan.ts';
import type { Program } from './sema/program.ts';
import { fmtBytes } from './sema/units.ts';

/**
 * `parallel: auto`: the search's fastest partition as the plan's settings (parallel, micro-batch, checkpointing), or
 * FLX5019 saying why there is none: no hardware to partition, or no partition fitting the GPUs' memory (and the
 * least any needs).
 */
export function choosePartition(
  program: Program,
  decl: A.PlanDecl,
  r: ResolvedPlan,
): { resolved?: ResolvedPlan; search?: SearchResult; diagnostics: Diagnostic[] } {
  const at = decl.fields.find((f) => f.key.name === 'parallel')!.value;
  const search = searchPartitions(program, decl, r);
  if (!search) return { diagnostics: [autoWithoutHardware(decl)] };
  const best = search.best[0];
  if (!best) {
    const least = search.smallest;
    return {
      search,
      diagnostics: [
        diag(
          'FLX5019',
          at.span,
          `no partition of the ${r.config.name} plan over its GPUs fits their memory (${search.considered} tried)`,
          least ? `the smallest needs ${fmtBytes(least)} per GPU` : undefined,
        ),
      ],
    };
  }
  const c = best.candidate;
  const config = {
    ...r.config,
    bind: { ...r.config.bind, B: c.micro },
    batch: { global: r.config.batch?.global ?? c.micro * c.data, micro: c.micro },
    checkpoint: c.checkpoint,
    parallel: {
      data: c.data,
      ...(c.expert > 1 ? { expert: c.expert } : {}),
      zero: c.zero,
      offload: [],
      tensor: c.tensor,
      ...(c.sequence ? { sequence: true } : {}),
      pipeline: c.pipeline,
      ...(c.pipeline > 1 ? { schedule: c.schedule } : {}),
    },
  };
  return { resolved: { ...r, config }, search, diagnostics: [] };
}

export const autoWithoutHardware = (decl: A.PlanDecl): Diagnostic =>
  diag(
    'FLX5019',
    decl.fields.find((f) => f.key.name === 'parallel')!.value.span,
    '`parallel: auto` partitions the GPUs of the plan’s hardware; it names none',
    'add `on: …`',
  );
