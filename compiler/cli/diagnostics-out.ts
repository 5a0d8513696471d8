import { render, toJson, type Diagnostic } from '../../grammar/diagnostics.ts';
import type { Program } from '../sema/program.ts';
import { readFileSync } from 'node:fs';

/** Prints diagnostics: human text on stderr, or JSON on stdout. */
export function printDiagnostics(ds: Diagnostic[], program: Program | undefined, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ diagnostics: ds.map(toJson) }, null, 2)}\n`);
    return;
  }
  const color = !process.env['NO_COLOR'] && process.stderr.isTTY === true;
  const source = (file: string) => {
    for (const f of program?.files.values() ?? []) if (f.path === file) return f.text;
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  };
  for (const d of ds) process.stderr.write(`${render(d, source, color)}\n\n`);
  const errors = ds.filter((d) => d.severity === 'error').length;
  if (errors) process.stderr.write(`${errors} error${errors === 1 ? '' : 's'}\n`);
}
