import { CODES, isCode } from '../../grammar/codes.ts';
import { didYouMean } from '../../grammar/diagnostics.ts';
import { EXIT } from './exit.ts';

/** `flexc explain [CODE]`: a diagnostic's meaning, explanation and example; every code without one. */
export function explainCommand(code: string | undefined): void {
  if (code === undefined) {
    for (const [c, d] of Object.entries(CODES)) process.stdout.write(`${c}  ${d.summary}\n`);
    return;
  }
  const want = /^\d{4}$/.test(code) ? `FLX${code}` : code.toUpperCase();
  if (!isCode(want)) {
    const hint = didYouMean(want, Object.keys(CODES));
    process.stderr.write(`flexc: no diagnostic ${code}${hint ? `; ${hint}` : ''}\n(flexc explain lists them all)\n`);
    process.exit(EXIT.usage);
  }
  const d: { summary: string; explanation: string; example?: string } = CODES[want];
  const example = d.example
    ? `\nFor example, this raises it:\n\n${d.example
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n')}\n`
    : '';
  process.stdout.write(`${want}: ${d.summary}\n\n${d.explanation}\n${example}`);
}
