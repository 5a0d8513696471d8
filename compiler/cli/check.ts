import { existsSync } from 'node:fs';
import { addDiagnostics, type Diagnostic } from '../../grammar/diagnostics.ts';
import { checkProgram } from '../check-program.ts';
import type { Program } from '../sema/program.ts';
import { printDiagnostics } from './diagnostics-out.ts';
import { EXIT } from './exit.ts';

export function checkCommand(files: string[], o: { json?: boolean }): void {
  const all: Diagnostic[] = [];
  const programs: Program[] = [];
  for (const f of files) {
    if (!existsSync(f)) {
      process.stderr.write(`flexc: no such file: ${f}\n`);
      process.exit(EXIT.usage);
    }
    const r = checkProgram(f, { budgets: true });
    addDiagnostics(all, r.diagnostics);
    programs.push(r.program);
  }
  const merged = programs[0];
  if (merged) for (const p of programs.slice(1)) for (const [k, v] of p.files) merged.files.set(k, v);
  printDiagnostics(all, merged, o.json === true);
  if (!o.json && !all.length)
    process.stderr.write(`checked ${files.length} file${files.length === 1 ? '' : 's'}: no problems\n`);
  process.exitCode = all.some((d) => d.severity === 'error') ? EXIT.user : EXIT.ok;
}
