import { rng } from '../../runtime/init.ts';

const VOCAB = [
  '{',
  '}',
  '(',
  ')',
  '[',
  ']',
  ',',
  ':',
  '=',
  '@',
  '+',
  '-',
  '*',
  '/',
  '...',
  '->',
  '<->',
  '.',
  'layer',
  'model',
  'plan',
  'graph',
  'hardware',
  'input',
  'param',
  'let',
  'output',
  'return',
  'repeat',
  'as',
  'on',
  'import',
  'from',
  'f32',
  'i32',
  'x',
  'B',
  'd',
  'relu',
  'Linear',
  '0',
  '-1',
  '3.5',
  '1e9',
  '20 GiB',
  '25 GB/s',
  '"std/nn"',
  '"../x"',
  'true',
  '//',
  '/*',
  '"',
];

const ODD = [
  '\u0000',
  '\u0001',
  '\t',
  '\r',
  '\u001b[31m',
  '\u007f',
  '\u0085',
  '\ufeff',
  '\u202e',
  '\u{1F600}',
  'é',
  '\\',
];

/**
 * Deterministic source mutations: deletions, insertions, duplicated or dropped lines, swapped tokens,
 * truncation, odd bytes, and spans repeated up to 200 times.
 */
export function mutate(src: string, seed: number): string {
  const next = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)]!;
  const at = () => Math.floor(next() * (src.length + 1));
  const rounds = 1 + Math.floor(next() * 3);
  for (let r = 0; r < rounds; r++) {
    const lines = src.split('\n');
    switch (Math.floor(next() * 10)) {
      case 0: {
        const i = at();
        src = src.slice(0, i) + src.slice(i + 1 + Math.floor(next() * 20));
        break;
      }
      case 1: {
        const i = at();
        src = `${src.slice(0, i)} ${pick(VOCAB)} ${src.slice(i)}`;
        break;
      }
      case 2: {
        const i = Math.floor(next() * lines.length);
        lines.splice(i, 0, lines[i] ?? '');
        src = lines.join('\n');
        break;
      }
      case 3:
        lines.splice(Math.floor(next() * lines.length), 1);
        src = lines.join('\n');
        break;
      case 4: {
        const toks = src.split(/(\s+)/);
        const a = Math.floor(next() * toks.length);
        const b = Math.floor(next() * toks.length);
        [toks[a], toks[b]] = [toks[b]!, toks[a]!];
        src = toks.join('');
        break;
      }
      case 5:
        src = src.replace(/\b\d+(\.\d+)?\b/g, (m) => (next() < 0.2 ? pick(['0', '1', '7', '64', '0.5', '3000']) : m));
        break;
      case 6: {
        const ids = [...new Set(src.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? [])];
        const from = pick(ids);
        const to = pick(ids);
        if (from) src = src.replace(new RegExp(`\\b${from}\\b`), to ?? from);
        break;
      }
      case 7:
        src = src.slice(0, at());
        break;
      case 8: {
        // bytes no one types: control characters, NUL, DEL, C1, a byte-order mark, an RTL override, astral
        const i = at();
        src = src.slice(0, i) + pick(ODD) + src.slice(i + (next() < 0.5 ? 1 : 0));
        break;
      }
      case 9: {
        // a span repeated: brackets and operators nest, lines pile up
        const i = at();
        const piece = src.slice(i, i + 1 + Math.floor(next() * 30));
        src = src.slice(0, i) + piece.repeat(2 + Math.floor(next() * 200)) + src.slice(i);
        break;
      }
    }
  }
  return src;
}
