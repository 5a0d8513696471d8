import type { Diagnostic } from '../grammar/diagnostics.ts';
import type { Module } from './ir/graph.ts';
import { lowerPlan, selectPlan, type Lowered } from './lower/lower.ts';
import type { PipelineOptions } from './passes/pipeline.ts';
import { copyModule, pipelinePlan } from './plan-pipeline.ts';
import { checkFile, sortDiagnostics } from './sema/check.ts';
import type { LoadOptions, Program } from './sema/program.ts';

export interface CompileResult {
  program: Program;
  diagnostics: Diagnostic[];
  lowered?: Lowered;
  /** The IR after the whole pipeline. */
  module?: Module;
  /** Serving plans: each decode step's IR after the pipeline. */
  decode?: { context: number; module: Module }[];
}

/** check → lower → pipeline, for one plan of one file. */
export function compile(path: string, planName?: string, opts: LoadOptions & PipelineOptions = {}): CompileResult {
  const { program, diagnostics, lowered } = checkFile(path, { ...opts, ...(planName !== undefined ? { only: planName } : {}) });
  if (diagnostics.some((d) => d.severity === 'error')) return { program, diagnostics };
  const sel = selectPlan(program, planName);
  if (!sel.plan) return { program, diagnostics: sel.diagnostics };
  const have = lowered.get(sel.plan);
  const low = have ? { lowered: have, diagnostics: [] } : lowerPlan(program, sel.plan);
  if (!low.lowered) return { program, diagnostics: sortDiagnostics(low.diagnostics) };
  const r = pipelinePlan(sel.plan, copyModule(low.lowered.forward), low.lowered.config, opts);
  if (!r.module) return { program, diagnostics: r.diagnostics };
  const decode = (low.lowered.decode ?? []).map((d) => ({ context: d.context, module: pipelinePlan(sel.plan!, copyModule(d.forward), low.lowered!.config).module! }));
  return { program, diagnostics: [], lowered: low.lowered, module: r.module, ...(decode.length ? { decode } : {}) };
}

