import type * as A from '../../grammar/ast.ts';
import { addDiagnostics, DiagnosticError, type Diagnostic } from '../../grammar/diagnostics.ts';
import { duplicateKeys } from './duplicates.ts';
import { Elaborator } from './elaborate.ts';
import { graphSpecOf } from './graph-decl.ts';
import { checkComponent, checkHardware } from './hardware.ts';
import { resolvePlan, type ResolvedPlan } from './plan.ts';
import { loadProgram, type LoadOptions, type Program } from './program.ts';
import type { EVal } from './values.ts';

export interface CheckResult {
  program: Program;
  diagnostics: Diagnostic[];
  /** The entry file's plans, each resolved once (lowering and compilation start from these). */
  plans: Map<A.PlanDecl, ResolvedPlan>;
}

/**
 * Loads a file with its imports and runs every semantic check (sizes stay symbolic; plans' settings
 * are resolved, their models not lowered: that is `checkProgram`'s, the layer above); diagnostics
 * are sorted by position.
 */
export function checkFile(path: string, opts: LoadOptions = {}): CheckResult {
  const program = loadProgram(path, opts);
  const diagnostics = [...program.diagnostics];
  const plans = new Map<A.PlanDecl, ResolvedPlan>();
  if (!program.syntaxErrors)
    for (const file of program.files.values()) addDiagnostics(diagnostics, duplicateKeys(file.ast));
  if (!program.syntaxErrors && !diagnostics.length) {
    for (const file of program.files.values()) {
      for (const d of file.ast.decls) addDiagnostics(diagnostics, checkDecl(d, program, file, plans));
    }
  }
  return { program, diagnostics: sortDiagnostics(dedupe(diagnostics)), plans };
}

function checkDecl(
  d: A.Decl,
  program: Program,
  file: Program['entry'],
  plans: Map<A.PlanDecl, ResolvedPlan>,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const ref = { decl: d, file };
  switch (d.kind) {
    case 'layer': {
      const el = new Elaborator(program, { mode: 'check', training: true, binds: new Map() });
      el.layerAlone(ref);
      addDiagnostics(out, el.diagnostics);
      break;
    }
    case 'model': {
      const el = new Elaborator(program, { mode: 'check', training: true, binds: new Map() });
      el.model(ref, new Map<string, EVal>(), d.name.name);
      addDiagnostics(out, el.diagnostics);
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
      const resolved = resolvePlan(d, file, program, out);
      if (resolved && file === program.entry) plans.set(d, resolved);
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
  return [...ds].sort((a, b) =>
    a.span.file < b.span.file
      ? -1
      : a.span.file > b.span.file
        ? 1
        : a.span.line - b.span.line || a.span.column - b.span.column,
  );
}
