import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as A from '../grammar/ast.ts';
import { addDiagnostics, type Diagnostic } from '../grammar/diagnostics.ts';
import { lowerPlan, type Lowered } from './lower/lower.ts';
import { copyModule, pipelinePlan, pipelineSplitDiagnostic, tensorSplitDiagnostic } from './plan-pipeline.ts';
import { layerStarts, PipelineSplitError } from './passes/partition-pipeline.ts';
import { autoWithoutHardware } from './choose-partition.ts';
import { findRegions, TensorSplitError } from './passes/partition-tensor.ts';
import { checkFile, sortDiagnostics } from './sema/check.ts';
import { graphResolver } from './sema/graph-decl.ts';
import type { ResolvedPlan } from './sema/plan.ts';
import type { LoadOptions, Program } from './sema/program.ts';
import { writeAtomic } from './write-atomic.ts';

export interface ProgramCheck {
  program: Program;
  diagnostics: Diagnostic[];
  plans: Map<A.PlanDecl, ResolvedPlan>;
  /** The entry's plans, lowered (each model elaborated with its plan's sizes). */
  lowered: Map<A.PlanDecl, Lowered>;
}

/** Forward values up to which checking a file also schedules its budgeted plans. */
const CHECK_BUDGET_VALUES = 20_000;

/**
 * Everything `flexc check` and the editor report: the semantic checks (sema/check.ts), then each
 * plan of the entry lowered, then, with `budgets`, whether some schedule keeps each GPU budget of a
 * train plan (the pass pipeline; its answer is cached, see budgetCache). Compilation runs the
 * same phases for one plan (compile.ts).
 */
export function checkProgram(path: string, opts: LoadOptions & { budgets?: boolean } = {}): ProgramCheck {
  const checked = checkFile(path, opts);
  const lowered = new Map<A.PlanDecl, Lowered>();
  if (checked.diagnostics.some((d) => d.severity === 'error')) return { ...checked, lowered };
  const diagnostics = [...checked.diagnostics];
  for (const [decl, resolved] of checked.plans) {
    const low = lowerPlan(checked.program, decl, resolved);
    addDiagnostics(diagnostics, low.diagnostics);
    if (!low.lowered) continue;
    lowered.set(decl, low.lowered);
    const { config, forward } = low.lowered;
    const tensor = config.parallel.tensor ?? 1;
    if (tensor > 1) {
      const { regions, widths, heads } = findRegions(forward, tensor);
      if (!regions.length)
        addDiagnostics(diagnostics, [tensorSplitDiagnostic(decl, new TensorSplitError(tensor, widths, heads))]);
    }
    if (config.parallel.auto && !low.lowered.hardware?.gpu) addDiagnostics(diagnostics, [autoWithoutHardware(decl)]);
    const stages = (config.parallel.pipeline ?? 1) * (config.parallel.schedule?.chunks ?? 1);
    const layers = stages > 1 ? layerStarts(forward).length : 0;
    if (stages > 1 && layers < stages)
      addDiagnostics(diagnostics, [pipelineSplitDiagnostic(decl, new PipelineSplitError(stages, layers))]);
    // a budget is a promise: check that some schedule keeps it, on steps small enough to schedule interactively
    if (
      opts.budgets &&
      Object.values(config.memory).some((b) => b !== undefined) &&
      config.task.kind === 'train' &&
      forward.values.length <= CHECK_BUDGET_VALUES
    )
      addDiagnostics(
        diagnostics,
        budgetCache(
          checked.program,
          decl.name.name,
          () =>
            pipelinePlan(decl, copyModule(forward), config, {
              feasibility: true,
              hardware: low.lowered!.hardware,
              graphs: graphResolver(checked.program),
            }).diagnostics,
        ),
      );
  }
  return { ...checked, diagnostics: sortDiagnostics(diagnostics), lowered };
}

let compilerHash: string | null | undefined;
/** A hash of the running compiler's bundle, or null when it runs from source (which is not cached). */
function compilerIdentity(): string | null {
  if (compilerHash !== undefined) return compilerHash;
  const self = fileURLToPath(import.meta.url);
  if (self.endsWith('.ts')) return (compilerHash = null);
  const h = createHash('sha256');
  for (const f of readdirSync(dirname(self))
    .filter((n) => n.endsWith('.mjs'))
    .sort())
    h.update(f).update(readFileSync(join(dirname(self), f)));
  return (compilerHash = h.digest('hex'));
}

/**
 * The budget check's diagnostics, cached on disk (`$XDG_CACHE_HOME/flexc`, else ~/.cache/flexc)
 * under a hash of the compiler and every source file of the program: scheduling a budgeted plan
 * takes up to seconds, and checking is an editor's inner loop. `FLEXC_NO_CACHE=1` turns it off.
 */
function budgetCache(program: Program, plan: string, run: () => Diagnostic[]): Diagnostic[] {
  const identity = process.env['FLEXC_NO_CACHE'] ? null : compilerIdentity();
  if (identity === null) return run();
  const h = createHash('sha256').update(identity).update(plan);
  // display paths too: diagnostics name files as the user sees them
  for (const f of [...program.files.values()].sort((a, b) => (a.abs < b.abs ? -1 : 1)))
    h.update(f.abs).update('\0').update(f.path).update('\0').update(f.text).update('\0');
  const dir = join(
    process.env['XDG_CACHE_HOME'] || (homedir() ? join(homedir(), '.cache') : tmpdir()),
    'flexc',
    'budgets',
  );
  const file = join(dir, `${h.digest('hex')}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Diagnostic[];
  } catch {
    const ds = run();
    try {
      mkdirSync(dir, { recursive: true });
      writeAtomic(file, JSON.stringify(ds));
    } catch {
      // a cache that cannot be written is no cache
    }
    return ds;
  }
}
