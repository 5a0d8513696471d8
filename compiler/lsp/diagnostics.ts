import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { DiagnosticSeverity, type Diagnostic as LspDiagnostic } from 'vscode-languageserver';
import type { Diagnostic } from '../../grammar/diagnostics.ts';
import { checkProgram } from '../check-program.ts';
import { toRange } from './positions.ts';
import type { Workspace } from './workspace.ts';

const SEVERITY = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  note: DiagnosticSeverity.Information,
} as const;

/**
 * An LSP diagnostic at `span` (the diagnostic's own, or a call site in its trace), the trace as related information.
 */
function toLsp(d: Diagnostic, uriOf: (file: string) => string, span = d.span): LspDiagnostic {
  const relatedInformation = [
    ...(span === d.span ? [] : [{ span: d.span, note: 'raised here' }]),
    ...(d.trace ?? []),
  ].map((t) => ({ location: { uri: uriOf(t.span.file), range: toRange(t.span) }, message: t.note }));
  return {
    range: toRange(span),
    severity: SEVERITY[d.severity],
    code: d.code,
    source: 'flexc',
    message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message,
    ...(relatedInformation.length ? { relatedInformation } : {}),
  };
}

/**
 * `flexc check` on a file as the editor has it (unsaved imports included): its diagnostics by
 * absolute path, for the file and every file it imports (an empty list where a file is clean, so
 * that fixed problems disappear).
 */
export function diagnose(ws: Workspace, path: string): Map<string, LspDiagnostic[]> {
  const r = checkProgram(resolve(path), { overlay: ws.overlay, budgets: true });
  const byPath = new Map<string, string>();
  const out = new Map<string, LspDiagnostic[]>();
  for (const f of r.program.files.values()) {
    byPath.set(f.path, f.abs);
    out.set(f.abs, []);
  }
  out.set(resolve(path), out.get(resolve(path)) ?? []);
  const uriOf = (file: string) => pathToFileURL(byPath.get(file) ?? resolve(file)).href;
  for (const d of r.diagnostics) {
    const abs = byPath.get(d.span.file) ?? resolve(path);
    out.get(abs)!.push(toLsp(d, uriOf));
    // raised inside a library layer: shown at the call in the checked file too, where the user can fix it
    const call = d.trace?.find((t) => byPath.get(t.span.file) === resolve(path));
    if (call && abs !== resolve(path)) out.get(resolve(path))!.push(toLsp(d, uriOf, call.span));
  }
  return out;
}
