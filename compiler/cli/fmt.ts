import { FileReadError, readRegularFile } from '../../runtime/read-file.ts';
import { MAX_SOURCE_BYTES } from '../sema/program.ts';
import { existsSync, readFileSync } from 'node:fs';
import { render, type Diagnostic } from '../../grammar/diagnostics.ts';
import { format } from '../../grammar/format.ts';
import { writeAtomic } from '../write-atomic.ts';
import { EXIT } from './exit.ts';

export interface FmtOptions {
  check?: boolean;
  stdin?: boolean;
}

/**
 * `flexc fmt`: rewrites files in their canonical layout (each through a temporary file and a
 * rename, so a file is never half written); `--check` changes nothing and lists the files that
 * are not formatted; `--stdin` formats standard input to standard output. A file that does not
 * parse is left as it is and its diagnostics are printed. Exit 1 when a file does not parse or,
 * with --check, is not formatted.
 */
export function fmtCommand(files: string[], o: FmtOptions): void {
  const color = !process.env['NO_COLOR'] && process.stderr.isTTY === true;
  const report = (ds: Diagnostic[], text: string) => {
    for (const d of ds) process.stderr.write(`${render(d, () => text, color)}\n\n`);
  };
  if (o.stdin) {
    if (files.length) usage('--stdin formats standard input; give no files with it');
    const text = readFileSync(0, 'utf8');
    const r = format(text, '<stdin>');
    if (!r.ok) {
      report(r.diagnostics, text);
      process.stdout.write(text);
      process.exitCode = EXIT.user;
      return;
    }
    if (o.check && r.text !== text) {
      process.stdout.write('<stdin>\n');
      process.exitCode = EXIT.user;
      return;
    }
    if (!o.check) process.stdout.write(r.text);
    return;
  }
  if (!files.length) usage('give .flex files to format, or --stdin');
  for (const f of files) if (!existsSync(f)) usage(`no such file: ${f}`);
  let failed = false;
  const unformatted: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readRegularFile(f, MAX_SOURCE_BYTES).toString('utf8');
    } catch (e) {
      if (!(e instanceof FileReadError)) throw e;
      process.stderr.write(`flexc fmt: ${e.message}\n`);
      failed = true;
      continue;
    }
    const r = format(text, f);
    if (!r.ok) {
      report(r.diagnostics, text);
      failed = true;
      continue;
    }
    if (r.text === text) continue;
    if (o.check) unformatted.push(f);
    else {
      writeAtomic(f, r.text);
      process.stderr.write(`formatted ${f}\n`);
    }
  }
  if (unformatted.length) {
    process.stdout.write(unformatted.map((f) => `${f}\n`).join(''));
    process.stderr.write(
      `${unformatted.length} file${unformatted.length === 1 ? ' is' : 's are'} not ` +
        `formatted; run flexc fmt ${unformatted.length === 1 ? 'on it' : 'on them'}\n`,
    );
  }
  if (failed || unformatted.length) process.exitCode = EXIT.user;
}

function usage(message: string): never {
  process.stderr.write(`flexc fmt: ${message}\n`);
  process.exit(EXIT.usage);
}
