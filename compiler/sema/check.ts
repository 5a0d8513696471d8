import type * as A from '../../grammar/ast.ts';
import { DiagnosticError, type Diagnostic } from '../../grammar/diagnostics.ts';
import { Elaborator } from './elaborate.ts';
import { graphSpecOf } from './graph-decl.ts';
import { checkComponent, checkHardware } from './hardware.ts';
import { resolvePlan } from './plan.ts';
import { lowerPlan, type Lowered } from '../lower/lower.ts';
import { copyModule, pipelinePlan } from '../plan-pipeline.ts';
import { loadProgram, type LoadOptions, type Program } from './program.ts';
import type { EVal } from './values.ts';

export interface CheckResult {
  program: Program;
  diagnostics: Diagnostic[];
  /** The entry file's plans, lowered while checking (reused by compilation). */
  lowered: Map<A.PlanDecl, Lowered>;
}

/** Forward values up to which checking a file also schedules its budgeted plans. */
const CHECK_BUDGET_VALUES = 20_000;

/**
 * Loads a file with its imports and runs every semantic check; diagnostics are sorted by position.
 * `only`: the caller compiles just this plan of the entry file and runs its pipeline itself, so the
 * entry's other plans get their settings checked without elaborating their models.
 */
export function checkFile(path: string, opts: LoadOptions & { only?: string } = {}): CheckResult {
  const program = loadProgram(path, opts);
  const diagnostics = [...program.diagnostics];
  const lowered = new Map<A.PlanDecl, Lowered>();
  if (!program.syntaxErrors && !diagnostics.length) {
    for (const file of program.files.values()) {
      for (const d of file.ast.decls) diagnostics.push(...checkDecl(d, program, file, lowered, opts.only));
    }
  }
  return { program, diagnostics: sortDiagnostics(dedupe(diagnostics)), lowered };
}

function checkDecl(d: A.Decl, program: Program, file: Program['entry'], lowered: Map<A.PlanDecl, Lowered>, only?: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const ref = { decl: d, file };
  switch (d.kind) {
    case 'layer': {
      const el = new Elaborator(program, { mode: 'check', training: true, binds: new Map() });
      el.layerAlone(ref);
      out.push(...el.diagnostics);
      break;
    }
    case 'model': {
      const el = new Elaborator(program, { mode: 'check', training: true, binds: new Map() });
      el.model(ref, new Map<string, EVal>(), d.name.name);
      out.push(...el.diagnostics);
      break;
    }
    case 'graph':
      try {
        graphSpecOf(d, file);
      } catch (e) {
        if (!(e instanceof DiagnosticError)) throw e;
        out.push(e.diagnostic);
      }
      break;
    case 'component':
      checkComponent(d, out);
      break;
    case 'hardware':
      checkHardware(d, file, program, out);
      break;
    case 'plan': {
      // plans of imported files, and the entry's other plans when the caller compiles one, get their settings checked
      if (file !== program.entry || (only !== undefined && d.name.name !== only)) {
        resolvePlan(d, file, program, out);
        break;
      }
      const low = lowerPlan(program, d);
      out.push(...low.diagnostics);
      if (low.lowered) lowered.set(d, low.lowered);
      // a GPU budget is a promise: check that some schedule keeps it (on steps small enough to schedule
      // interactively; `flexc build`, `run` and `plan`, whose caller passes `only`, always do)
      if (only === undefined && low.lowered?.config.memory.gpu !== undefined && low.lowered.config.task.kind === 'train' && low.lowered.forward.values.length <= CHECK_BUDGET_VALUES) out.push(...pipelinePlan(d, copyModule(low.lowered.forward), low.lowered.config).diagnostics);
      break;
    }
  }
  return out;
}

function dedupe(ds: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return ds.filter((d) => {
    const k = `${d.code}|${d.span.file}|${d.span.line}|${d.span.column}|${d.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => (a.span.file < b.span.file ? -1 : a.span.file > b.span.file ? 1 : a.span.line - b.span.line || a.span.column - b.span.column));
}
