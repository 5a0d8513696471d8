import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { format } from '../../grammar/format.ts';
import { parse } from '../../grammar/index.ts';
import { FlexLexer } from '../../grammar/tokens.ts';
import { STDLIB_DIR } from '../../compiler/sema/program.ts';
import { mutate } from '../fuzz/mutate.ts';

const SHIPPED = [
  ...readdirSync('examples').map((f) => join('examples', f)),
  ...readdirSync(STDLIB_DIR).map((f) => join(STDLIB_DIR, f)),
].filter((f) => f.endsWith('.flex'));

/** Every token and comment, in order (a comment's trailing spaces are not kept). */
function tokenImages(text: string): string[] {
  const r = FlexLexer.tokenize(text);
  return [...r.tokens, ...(r.groups['comments'] ?? [])]
    .sort((a, b) => a.startOffset - b.startOffset)
    .map((t) => t.image.trimEnd());
}

/** The syntax tree without positions. */
function shape(text: string): string {
  return JSON.stringify(parse(text, 'x.flex').ast, (k, v) => (k === 'span' || k === 'path' ? undefined : v));
}

/** The same lines with no indentation and no space between tokens that the lexer keeps apart without one. */
function squeezed(text: string): string {
  const r = FlexLexer.tokenize(text);
  const tokens = [...r.tokens, ...(r.groups['comments'] ?? [])].sort((a, b) => a.startOffset - b.startOffset);
  const word = /^[A-Za-z0-9_.]/;
  let out = '';
  let prev: (typeof tokens)[number] | undefined;
  for (const t of tokens) {
    if (prev)
      out +=
        prev.endLine !== t.startLine
          ? '\n'.repeat(t.startLine! - prev.endLine!)
          : word.test(t.image) && /[A-Za-z0-9_]$/.test(prev.image)
            ? ' '
            : t.image.startsWith('/')
              ? ' '
              : '';
    out += t.image;
    prev = t;
  }
  return `${out}\n`;
}

function formatted(text: string): string {
  const r = format(text);
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.text;
}

/** What a format must keep: the tokens, the comments and the tree, and a second format changes nothing. */
function expectSafe(text: string): void {
  const once = formatted(text);
  expect(formatted(once)).toBe(once);
  expect(tokenImages(once)).toEqual(tokenImages(text));
  expect(shape(once)).toBe(shape(text));
}

describe('flexc fmt: the formatter', () => {
  it.each(SHIPPED)('%s is formatted', (f) => {
    const text = readFileSync(f, 'utf8');
    expect(formatted(text)).toBe(text);
  });

  it(
    'lays out a messy file canonically: spaces, indentation, ' +
      'one statement and field a line, comments where they were',
    () => {
      const text = readFileSync('test/format/messy.flex', 'utf8');
      expect(formatted(text)).toBe(readFileSync('test/format/messy.formatted.flex', 'utf8'));
      expectSafe(text);
    },
  );

  it(
    'gives one layout whatever the spacing: the shipped files ' +
      'with their whitespace scrambled format back to themselves',
    () => {
      for (const f of SHIPPED) {
        const text = readFileSync(f, 'utf8');
        // every run of spaces or tabs between code becomes one to three spaces; indentation goes
        const scrambled = text
          .split('\n')
          .map((l, i) => {
            const c = l.indexOf('//');
            const code = c < 0 ? l : l.slice(0, c);
            return (
              code.trimStart().replace(/(?<=\S)[ \t]+/g, () => ' '.repeat(1 + ((i * 7) % 3))) +
              (c < 0 ? '' : l.slice(c))
            );
          })
          .join('\n');
        expect(formatted(scrambled), f).toBe(text);
        expect(formatted(squeezed(text)), f).toBe(text);
      }
    },
  );

  it('keeps the meaning and is idempotent on 600 mutated sources that still parse', () => {
    let parsed = 0;
    for (let k = 0; k < 3000 && parsed < 600; k++) {
      const f = SHIPPED[k % SHIPPED.length]!;
      const text = mutate(readFileSync(f, 'utf8'), 7000 + k);
      if (parse(text, f).diagnostics.length) continue;
      parsed++;
      try {
        expectSafe(text);
      } catch (e) {
        throw new Error(`mutation ${7000 + k} of ${f}: ${(e as Error).message}\n--- source ---\n${text}`);
      }
    }
    expect(parsed).toBe(600);
  });

  it('does not format a file that does not parse: it returns the diagnostics', () => {
    const r = format('model M {\n  let x = \n}\n', 'bad.flex');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics[0]!.code).toMatch(/^FLX1/);
  });

  it('keeps a number with its unit on its line and the slash of a unit tight: 25 GB/s, but a / b', () => {
    expect(formatted('gpu g { bandwidth: 25 GB/s }\n')).toBe('gpu g {\n  bandwidth: 25 GB/s\n}\n');
    expect(formatted('layer L(a: f32[N], b: f32[N]) { return a/b - -a }\n')).toBe(
      'layer L(a: f32[N], b: f32[N]) {\n  return a / b - -a\n}\n',
    );
  });
});

describe('flexc fmt: the command', () => {
  const cli = (args: string[], input?: string) =>
    spawnSync(process.execPath, ['bin/flexc.mjs', 'fmt', ...args], { encoding: 'utf8', input });

  it(
    'rewrites files in place, --check lists the unformatted ones ' +
      'with exit 1, a file that does not parse is left untouched',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'flexc-fmt-'));
      try {
        const messy = join(dir, 'messy.flex');
        const good = join(dir, 'good.flex');
        const bad = join(dir, 'bad.flex');
        copyFileSync('test/format/messy.flex', messy);
        copyFileSync('examples/mlp.flex', good);
        writeFileSync(bad, 'model M {\n  let x = \n}\n');

        const check = cli(['--check', messy, good]);
        expect(check.status).toBe(1);
        expect(check.stdout).toBe(`${messy}\n`);
        expect(readFileSync(messy, 'utf8')).toBe(readFileSync('test/format/messy.flex', 'utf8'));

        const write = cli([messy, good, bad]);
        expect(write.status).toBe(1);
        expect(write.stderr).toMatch(/error\[FLX1\d{3}\]/);
        expect(write.stderr).toContain(`${bad}:3:1`);
        expect(write.stderr).not.toMatch(/\n\s+at .*:\d+:\d+\)?\n/);
        expect(readFileSync(messy, 'utf8')).toBe(readFileSync('test/format/messy.formatted.flex', 'utf8'));
        expect(readFileSync(bad, 'utf8')).toBe('model M {\n  let x = \n}\n');
        expect(readdirSync(dir).sort()).toEqual(['bad.flex', 'good.flex', 'messy.flex']);

        expect(cli(['--check', messy, good]).status).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('--stdin formats standard input to standard output; unparseable input comes back unchanged with exit 1', () => {
    const ok = cli(['--stdin'], readFileSync('test/format/messy.flex', 'utf8'));
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(readFileSync('test/format/messy.formatted.flex', 'utf8'));
    const bad = cli(['--stdin'], 'model {');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('model {');
    expect(bad.stderr).toContain('<stdin>:1:7');
  });

  it('usage errors exit 2', () => {
    expect(cli([]).status).toBe(2);
    expect(cli(['no/such/file.flex']).status).toBe(2);
  });
});
