import type * as A from '../grammar/ast.ts';
import type { Diagnostic } from '../grammar/diagnostics.ts';
import type { Module } from './ir/graph.ts';
import { lowerPlan, selectPlan, type Lowered } from './lower/lower.ts';
import type { PipelineOptions } from './passes/pipeline.ts';
import { copyModule, pipelinePlan } from './plan-pipeline.ts';
import { checkFile, sortDiagnostics } from './sema/check.ts';
import { graphResolver } from './sema/graph-decl.ts';
import type { ResolvedPlan } from './sema/plan.ts';
import type { LoadOptions, Program } from './sema/program.ts';
import { choosePartition } from './choose-partition.ts';
import type { SearchResult } from './cost/search.ts';

export interface CompileResult {
  program: Program;
  diagnostics: Diagnostic[];
  /** The plan compiled: its declaration and its settings as checking resolved them. */
  plan?: { decl: A.PlanDecl; resolved: ResolvedPlan };
  lowered?: Lowered;
  /** The IR after the whole pipeline. */
  module?: Module;
  /** Serving plans: each decode step's IR after the pipeline. */
  decode?: { context: number; module: Module }[];
  /** `parallel: auto`: the search that chose the plan's partition. */
  search?: SearchResult;
}

/** load → check → the plan resolved once → lower → passes, for one plan of one file. */
export function compile(path: string, planName?: string, opts: LoadOptions & PipelineOptions = {}): CompileResult {
  const { program, diagnostics, plans } = checkFile(path, opts);
  if (diagnostics.some((d) => d.severity === 'error')) return { program, diagnostics };
  const sel = selectPlan(program, planName);
  if (!sel.plan) return { program, diagnostics: sel.diagnostics };
  let plan = { decl: sel.plan, resolved: plans.get(sel.plan)! };
  // `parallel: auto`: the fastest partition that fits is the plan's
  let search: SearchResult | undefined;
  if (plan.resolved.config.parallel.auto) {
    const found = choosePartition(program, plan.decl, plan.resolved);
    if (!found.resolved) return { program, diagnostics: found.diagnostics, plan };
    search = found.search;
    plan = { decl: plan.decl, resolved: found.resolved };
  }
  const lowering = lowerPlan(program, plan.decl, plan.resolved);
  if (!lowering.lowered) return { program, diagnostics: sortDiagnostics(lowering.diagnostics), plan };
  const low = lowering.lowered;
  const graphs = graphResolver(program);
  const r = pipelinePlan(sel.plan, copyModule(low.forward), low.config, { ...opts, hardware: low.hardware, graphs });
  if (!r.module) return { program, diagnostics: r.diagnostics, plan };
  const decode = (low.decode ?? []).map((d) => ({
    context: d.context,
    module: pipelinePlan(sel.plan!, copyModule(d.forward), low.config, { hardware: low.hardware, graphs }).module!,
  }));
  // `blocks: auto` resolved: the number the pipeline chose is the plan's from here on
  const lowered = r.blocks === undefined ? low : { ...low, config: { ...low.config, blocks: r.blocks } };
  return {
    program,
    diagnostics: [],
    plan,
    lowered,
    module: r.module,
    ...(decode.length ? { decode } : {}),
    ...(search ? { search } : {}),
  };
}
