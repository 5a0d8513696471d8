import type { Diagnostic } from '../grammar/diagnostics.ts';
import type { Module } from './ir/graph.ts';
import { lowerPlan, selectPlan, type Lowered } from './lower/lower.ts';
import { runPipeline, type PipelineOptions } from './passes/pipeline.ts';
import { checkFile, sortDiagnostics } from './sema/check.ts';
import type { LoadOptions, Program } from './sema/program.ts';

export interface CompileResult {
  program: Program;
  diagnostics: Diagnostic[];
  lowered?: Lowered;
  /** The IR after the whole pipeline. */
  module?: Module;
}

/** check → lower → pipeline, for one plan of one file. */
export function compile(path: string, planName?: string, opts: LoadOptions & PipelineOptions = {}): CompileResult {
  const { program, diagnostics, lowered } = checkFile(path, opts);
  if (diagnostics.some((d) => d.severity === 'error')) return { program, diagnostics };
  const sel = selectPlan(program, planName);
  if (!sel.plan) return { program, diagnostics: sel.diagnostics };
  const have = lowered.get(sel.plan);
  const low = have ? { lowered: have, diagnostics: [] } : lowerPlan(program, sel.plan);
  if (!low.lowered) return { program, diagnostics: sortDiagnostics(low.diagnostics) };
  const module = runPipeline(copyModule(low.lowered.forward), { config: low.lowered.config }, opts);
  return { program, diagnostics: [], lowered: low.lowered, module };
}

/** Passes build new modules but share values; keep the forward module intact for callers. */
function copyModule(m: Module): Module {
  return { ...m, values: [...m.values], outputs: [...m.outputs], updates: [...m.updates] };
}
