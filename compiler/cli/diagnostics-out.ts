import { render, toJson, type Diagnostic } from '../../grammar/diagnostics.ts';
import type { Program } from '../sema/program.ts';
import { readRegularFile } from '../../runtime/read-file.ts';
import { MAX_SOURCE_BYTES } from '../sema/program.ts';

/** Diagnostics printed as text; the rest are counted (a file with 26,000 mistakes is read from the top). */
const SHOWN = 100;

/** Prints diagnostics: human text on stderr (the first SHOWN), or JSON on stdout (all). */
export function printDiagnostics(ds: Diagnostic[], program: Program | undefined, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ diagnostics: ds.map(toJson) }, null, 2)}\n`);
    return;
  }
  const color = !process.env['NO_COLOR'] && process.stderr.isTTY === true;
  const source = (file: string) => {
    for (const f of program?.files.values() ?? []) if (f.path === file) return f.text;
    try {
      return readRegularFile(file, MAX_SOURCE_BYTES).toString('utf8');
    } catch {
      return undefined; // the diagnostic already says why it cannot be read
    }
  };
  for (const d of ds.slice(0, SHOWN)) process.stderr.write(`${render(d, source, color)}\n\n`);
  if (ds.length > SHOWN) process.stderr.write(`… and ${ds.length - SHOWN} more (--json lists them all)\n\n`);
  const errors = ds.filter((d) => d.severity === 'error').length;
  if (errors) process.stderr.write(`${errors} error${errors === 1 ? '' : 's'}\n`);
}
