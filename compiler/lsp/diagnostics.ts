import { resolve } from 'node:path';
import { DiagnosticSeverity, type Diagnostic as LspDiagnostic } from 'vscode-languageserver';
import type { Diagnostic } from '../../grammar/diagnostics.ts';
import { checkFile } from '../sema/check.ts';
import { toRange } from './positions.ts';
import type { Workspace } from './workspace.ts';

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, note: DiagnosticSeverity.Information } as const;

function toLsp(d: Diagnostic): LspDiagnostic {
  return { range: toRange(d.span), severity: SEVERITY[d.severity], code: d.code, source: 'flexc', message: d.hint ? `${d.message}\nhint: ${d.hint}` : d.message };
}

/**
 * `flexc check` on a file as the editor has it (unsaved imports included): its diagnostics by
 * absolute path, for the file and every file it imports (an empty list where a file is clean, so
 * that fixed problems disappear).
 */
export function diagnose(ws: Workspace, path: string): Map<string, LspDiagnostic[]> {
  const r = checkFile(resolve(path), { read: ws.read });
  const byPath = new Map<string, string>();
  const out = new Map<string, LspDiagnostic[]>();
  for (const f of r.program.files.values()) {
    byPath.set(f.path, f.abs);
    out.set(f.abs, []);
  }
  out.set(resolve(path), out.get(resolve(path)) ?? []);
  for (const d of r.diagnostics) {
    const abs = byPath.get(d.span.file) ?? resolve(path);
    out.get(abs)!.push(toLsp(d));
  }
  return out;
}
