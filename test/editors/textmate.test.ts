import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { IToken } from 'chevrotain';
import * as oniguruma from 'vscode-oniguruma';
import vsctm from 'vscode-textmate';
import { beforeAll, describe, expect, it } from 'vitest';
import { grammarFiles, KEYWORD_SCOPES, keywordWord } from '../../compiler/editors/textmate.ts';
import { DTYPES, FlexLexer, KEYWORDS } from '../../grammar/tokens.ts';
import { BUILTINS } from '../../compiler/sema/builtins.ts';
import { STDLIB_DIR } from '../../compiler/sema/program.ts';

const SHIPPED = [
  ...readdirSync('examples').map((f) => join('examples', f)),
  ...readdirSync(STDLIB_DIR).map((f) => join(STDLIB_DIR, f)),
  // files named `_…` are other tests' scratch, written and removed while this one may run
].filter((f) => f.endsWith('.flex') && !f.split('/').at(-1)!.startsWith('_'));

let grammar: vsctm.IGrammar;
beforeAll(async () => {
  const wasm = readFileSync(createRequire(import.meta.url).resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (p: string[]) => new oniguruma.OnigScanner(p),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope: string) =>
      scope === 'source.flex'
        ? vsctm.parseRawGrammar(readFileSync('grammar/flex.tmLanguage.json', 'utf8'), 'flex.tmLanguage.json')
        : null,
  });
  grammar = (await registry.loadGrammar('source.flex'))!;
});

/** The scopes of every character: scopes[line][column], both 0-based. */
function scopesOf(text: string): string[][][] {
  let stack = vsctm.INITIAL;
  return text.split('\n').map((line) => {
    const r = grammar.tokenizeLine(line, stack);
    stack = r.ruleStack;
    const out: string[][] = [];
    for (const t of r.tokens)
      for (let c = t.startIndex; c < Math.max(t.endIndex, t.startIndex + 1); c++) out[c] = t.scopes;
    return out;
  });
}

/** The scope TextMate should give a lexer token, or undefined where any is fine. */
function expectedScope(tokens: IToken[], i: number): RegExp | undefined {
  const t = tokens[i]!;
  const prev = tokens[i - 1];
  const next = tokens[i + 1];
  const name = t.tokenType.name;
  if (name === 'LineComment' || name === 'BlockComment') return /^comment\./;
  if (name === 'StringLit') return /^string\.quoted\.double\.flex$/;
  if (name === 'NumberLit') return /^constant\.numeric\.flex$/;
  if (name === 'DType') return /^storage\.type\.primitive\.flex$/;
  const isKeyword = KEYWORDS.some((k) => k.name === name);
  if (name === 'Identifier' && inTensorType(tokens, i)) return /^variable\.other\.dimension\.flex$/;
  if (next?.tokenType.name === 'Colon' && (isKeyword || name === 'Identifier') && prev?.tokenType.name !== 'Link')
    return /^entity\.other\.attribute-name\.flex$/;
  if (isKeyword) return new RegExp(`^${KEYWORD_SCOPES[name]!.replace(/\./g, '\\.')}$`);
  if (name !== 'Identifier') return undefined;
  if (prev && ['Layer', 'Model'].includes(prev.tokenType.name)) return /^entity\.name\.function\.flex$/;
  if (prev && ['Graph', 'Hardware', 'Plan'].includes(prev.tokenType.name)) return /^entity\.name\.type\.flex$/;
  if (prev?.tokenType.name === 'NumberLit' && prev.endLine === t.startLine) return /^keyword\.other\.unit\.flex$/;
  if (t.image in BUILTINS && next?.tokenType.name === 'LParen') return /^support\.function\.builtin\.flex$/;
  return undefined;
}

/** Whether token i is inside the brackets of a tensor type (`f32[B, T]`). */
function inTensorType(tokens: IToken[], i: number): boolean {
  let depth = 0;
  for (let k = i - 1; k >= 0; k--) {
    const n = tokens[k]!.tokenType.name;
    if (n === 'RBracket' || n === 'RParen') depth++;
    else if (n === 'LParen' && depth-- === 0) return false;
    else if (n === 'LBracket' && depth-- === 0) return tokens[k - 1]?.tokenType.name === 'DType';
  }
  return false;
}

describe('the TextMate grammar', () => {
  it('is generated from the lexer: the files in grammar/ and editors/vscode/ are current (npm run gen:grammar)', () => {
    for (const [path, text] of Object.entries(grammarFiles())) expect(readFileSync(path, 'utf8'), path).toBe(text);
  });

  it('has a scope for every keyword of the lexer and matches every dtype', () => {
    for (const k of KEYWORDS) expect(KEYWORD_SCOPES[k.name], k.name).toBeDefined();
    const g = JSON.parse(readFileSync('grammar/flex.tmLanguage.json', 'utf8'));
    const keywords = JSON.stringify(g.repository.keywords);
    for (const k of KEYWORDS) expect(keywords).toContain(keywordWord(k));
    for (const d of DTYPES) expect(g.repository.dtypes.match).toContain(d);
  });

  it.each(SHIPPED)('scopes every token of %s as the lexer reads it', (f) => {
    const text = readFileSync(f, 'utf8');
    const scopes = scopesOf(text);
    const lexed = FlexLexer.tokenize(text);
    const tokens = [...lexed.tokens, ...(lexed.groups['comments'] ?? [])].sort((a, b) => a.startOffset - b.startOffset);
    const code = tokens.filter((t) => !t.tokenType.name.endsWith('Comment'));
    let checked = 0;
    for (const t of tokens) {
      const i = code.indexOf(t);
      const want = i < 0 ? /^comment\./ : expectedScope(code, i);
      if (!want) continue;
      for (let line = t.startLine!; line <= t.endLine!; line++) {
        const col = line === t.startLine ? t.startColumn! - 1 : 0;
        const at = scopes[line - 1]![col] ?? [];
        expect(
          at.slice(1).some((s) => want.test(s)),
          `${f}:${line}:${col + 1} \`${t.image.slice(0, 30)}\` has ${at.join(' ')}; want ${want}`,
        ).toBe(true);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('keeps a half-typed line from spilling: an unclosed string ends at the line end', () => {
    const s = scopesOf('plan p {\n  data: text("unclosed\n  steps: 10\n}\n');
    expect(s[2]![2]).toContain('entity.other.attribute-name.flex');
    expect(s[2]![9]).toContain('constant.numeric.flex');
  });

  it('highlights ```flex fences in Markdown (the injection grammar)', () => {
    const inj = JSON.parse(readFileSync('editors/vscode/syntaxes/flex.markdown.tmLanguage.json', 'utf8'));
    const block = inj.repository['flex-code-block'];
    const begins = (line: string) =>
      new oniguruma.OnigScanner([block.begin]).findNextMatchSync(new oniguruma.OnigString(line), 0) !== null;
    expect(begins('```flex')).toBe(true);
    expect(begins('~~~ flex title="gpt"')).toBe(true);
    expect(begins('```FLEX')).toBe(true);
    expect(begins('```python')).toBe(false);
    expect(begins('```flexible')).toBe(false);
    expect(block.patterns[0].patterns[0].include).toBe('source.flex');
    expect(inj.injectionSelector).toBe('L:text.html.markdown');
  });
});
