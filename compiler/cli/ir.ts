import { existsSync } from 'node:fs';
import { didYouMean } from '../../grammar/diagnostics.ts';
import { compile } from '../compile.ts';
import { printModule } from '../ir/printer.ts';
import { printDiagnostics } from './diagnostics-out.ts';
import { EXIT } from './exit.ts';
import { PIPELINE } from '../passes/pipeline.ts';

/** What --print-after takes: lowering, each pass of the pipeline in order, or all of them. */
export const PRINTABLE = ['lower', ...PIPELINE.map((p) => p.name), 'all'];

export function irCommand(file: string, o: { plan?: string; printAfter?: string; timePasses?: boolean }): void {
  if (!existsSync(file)) {
    process.stderr.write(`flexc: no such file: ${file}\n`);
    process.exit(EXIT.usage);
  }
  if (o.printAfter !== undefined && !PRINTABLE.includes(o.printAfter)) {
    const hint = didYouMean(o.printAfter, PRINTABLE);
    process.stderr.write(
      `flexc: no pass \`${o.printAfter}\`${hint ? `; ${hint}` : ''}\n--print-after ` +
        `takes one of ${PRINTABLE.join(', ')}\n`,
    );
    process.exit(EXIT.usage);
  }
  const timings: { pass: string; ms: number }[] = [];
  const t0 = performance.now();
  const printed: string[] = [];
  const r = compile(file, o.plan, {
    printAfter: o.printAfter ?? '',
    onPrint: (h, ir) => printed.push(`${h}\n${ir}`),
    timings,
  });
  if (!r.module) {
    printDiagnostics(r.diagnostics, r.program, false);
    process.exitCode = EXIT.user;
    return;
  }
  if (o.printAfter === 'lower' || o.printAfter === 'all')
    printed.unshift(`// *** IR Dump After lower ***\n${printModule(r.lowered!.forward)}`);
  process.stdout.write(o.printAfter ? printed.join('\n') : printModule(r.module));
  if (o.timePasses) {
    const total = performance.now() - t0;
    const rows = [
      ['check + lower', total - timings.reduce((a, t) => a + t.ms, 0)] as const,
      ...timings.map((t) => [t.pass, t.ms] as const),
    ];
    process.stderr.write('===-------------------------------------------===\n  pass timings\n');
    for (const [n, ms] of rows) process.stderr.write(`  ${ms.toFixed(2).padStart(9)} ms  ${n}\n`);
    process.stderr.write(`  ${total.toFixed(2).padStart(9)} ms  total\n`);
  }
}
