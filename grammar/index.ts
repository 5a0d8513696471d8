import type { IRecognitionException, IToken } from 'chevrotain';
import type { FlexFile } from './ast.ts';
import { buildAst } from './build-ast.ts';
import { diag, didYouMean, type Diagnostic, type Span } from './diagnostics.ts';
import { cstParser, PART_KINDS } from './parser.ts';
import { expressionDepth, tokenNesting, tokenSpan } from './limits.ts';
import { decodeString } from './strings.ts';
import { FlexLexer } from './tokens.ts';

export * from './ast.ts';
export * from './diagnostics.ts';

export interface ParseResult {
  ast: FlexFile;
  diagnostics: Diagnostic[];
  comments: IToken[];
}

/** Lexes and parses one file; every syntax error is reported (recovery is on). */
export function parse(text: string, path: string): ParseResult {
  const lexed = FlexLexer.tokenize(text);
  const diagnostics: Diagnostic[] = lexed.errors.map((e) => {
    const ch = text.slice(e.offset, e.offset + e.length);
    const span: Span = {
      file: path,
      line: e.line ?? 1,
      column: e.column ?? 1,
      endLine: e.line ?? 1,
      endColumn: (e.column ?? 1) + Math.max(1, e.length),
    };
    const hint =
      ch === "'" ? 'strings use double quotes' : ch === '"' ? 'this string is not closed on its line' : undefined;
    const code = ch.codePointAt(0) ?? 0;
    const shown = code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0) ? '' : ` \`${ch}\``;
    const named = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
    return diag('FLX1001', span, `unexpected character${shown || ` ${named}`}`, hint);
  });
  for (const t of lexed.tokens) {
    const problem = t.tokenType.name === 'NumberLit' ? numberProblem(t.image) : undefined;
    if (problem) diagnostics.push(diag('FLX1009', tokenSpan(t, path), problem));
    if (t.tokenType.name !== 'StringLit') continue;
    const d = decodeString(t.image);
    if ('error' in d) {
      const column = (t.startColumn ?? 1) + d.at;
      const line = t.startLine ?? 1;
      diagnostics.push(
        diag('FLX1007', { file: path, line, column, endLine: line, endColumn: column + d.length }, d.error),
      );
    }
  }
  for (const t of lexed.groups['invalid'] ?? []) diagnostics.push(invalidToken(t, path));
  const comments = lexed.groups['comments'] ?? [];
  const tooDeep = tokenNesting(lexed.tokens, path);
  if (tooDeep) {
    const span: Span = { file: path, line: 1, column: 1, endLine: 1, endColumn: 1 };
    return { ast: { path, imports: [], decls: [], span }, diagnostics: [...diagnostics, tooDeep], comments };
  }
  cstParser.input = lexed.tokens;
  const cst = cstParser.file();
  for (const e of cstParser.errors) diagnostics.push(parseError(e, path));
  const ast = buildAst(cst, path);
  const deep = expressionDepth(ast);
  if (deep) return { ast: { ...ast, imports: [], decls: [] }, diagnostics: [...diagnostics, deep], comments };
  return { ast, diagnostics, comments };
}

function parseError(e: IRecognitionException, path: string): Diagnostic {
  const t = e.token;
  const eof = t.tokenType?.name === 'EOF' || Number.isNaN(t.startOffset);
  const prev = (e as { previousToken?: IToken }).previousToken;
  const at = eof && prev && !Number.isNaN(prev.startOffset) ? prev : t;
  const line = at.startLine ?? 1;
  const column = eof && at !== t ? (at.endColumn ?? 1) + 1 : (at.startColumn ?? 1);
  const span: Span = {
    file: path,
    line,
    column,
    endLine: line,
    endColumn: column + (eof ? 1 : Math.max(1, t.image.length)),
  };
  const found = eof ? 'end of file' : `\`${t.image}\``;
  const rule = e.context?.ruleStack?.at(-1) ?? '';
  let expected = '';
  const m = /Expecting:?\s*(?:one of these possible Token sequences:)?\s*([\s\S]*?)\s*but found/.exec(e.message);
  const single = /Expecting token of type --> (\w+) <--/.exec(e.message);
  if (single?.[1]) expected = tokenLabel(single[1]);
  else if (m?.[1]) expected = alternatives(m[1]);
  const code =
    e.name === 'MismatchedTokenException'
      ? 'FLX1002'
      : e.name === 'NoViableAltException'
        ? 'FLX1003'
        : e.name === 'EarlyExitException'
          ? 'FLX1004'
          : 'FLX1005';
  const starts = ['import', 'layer', 'model', 'graph', 'hardware', 'plan', ...PART_KINDS];
  const atDecl =
    (rule === 'decl' || rule === 'file' || rule === 'componentDecl') &&
    t.tokenType?.name === 'Identifier' &&
    !PART_KINDS.includes(t.image);
  if (atDecl)
    return diag(
      'FLX1006',
      span,
      `\`${t.image}\` does not start a declaration`,
      didYouMean(t.image, starts) ?? `declarations start with ${starts.map((s) => `\`${s}\``).join(', ')}`,
    );
  const hint =
    rule === 'stmt' || rule === 'block'
      ? 'a body holds `input`, `param`, `let`, `name = …`, `repeat`, `output` and `return` statements'
      : undefined;
  return diag(
    code,
    span,
    `unexpected ${found}${expected ? `; expected ${expected}` : ''}${rule ? ` (in ${ruleLabel(rule)})` : ''}`,
    hint,
  );
}

const LABELS: Record<string, string> = {
  Identifier: 'a name',
  NumberLit: 'a number',
  StringLit: 'a string',
  LBrace: '`{`',
  RBrace: '`}`',
  LParen: '`(`',
  RParen: '`)`',
  LBracket: '`[`',
  RBracket: '`]`',
  Comma: '`,`',
  Colon: '`:`',
  Equals: '`=`',
  Arrow: '`->`',
  BiArrow: '`<->`',
  DType: 'a dtype',
  Dot: '`.`',
  Minus: '`-`',
  True: '`true`',
  False: '`false`',
  Star: '`*`',
  Slash: '`/`',
  Plus: '`+`',
  At: '`@`',
};
/**
 * What the parser could have taken, in words: chevrotain lists alternatives as token sequences
 * (`1. [Minus] 2. [NumberLit, Colon]`); the first token of each is what was needed here.
 */
function alternatives(listed: string): string {
  const firsts = [...listed.matchAll(/\[\s*([A-Za-z]+)/g)].map((x) => x[1]!);
  const names = [...new Set(firsts.length ? firsts : [...listed.matchAll(/<([A-Za-z]+)>/g)].map((x) => x[1]!))];
  if (EXPRESSION_STARTS.every((n) => names.includes(n))) return 'an expression';
  const labels = names.map(tokenLabel);
  return labels.length <= 1 ? (labels[0] ?? '') : `one of ${labels.join(', ')}`;
}

/** The tokens an expression can start with. */
const EXPRESSION_STARTS = ['Minus', 'NumberLit', 'Identifier', 'LParen', 'LBracket'];

function tokenLabel(n: string): string {
  return LABELS[n] ?? `\`${n.toLowerCase()}\``;
}
function ruleLabel(rule: string): string {
  return rule.replace(/([A-Z])/g, ' $1').toLowerCase();
}

/** Why a number literal cannot mean what it says: too large for a double, or an integer past 2⁵³ that would change. */
function numberProblem(image: string): string | undefined {
  const n = Number(image);
  if (!Number.isFinite(n)) return `${image} is too large to be a number (the largest is about 1.8e308)`;
  if (/^\d+$/.test(image) && BigInt(image) !== BigInt(n))
    return `${image} cannot be held exactly; it would become ${BigInt(n)} (whole numbers are exact up to 2⁵³)`;
  return undefined;
}

/** Text the lexer recognises only to explain why it is not flex: an unclosed `/*`, a hexadecimal number. */
function invalidToken(t: IToken, path: string): Diagnostic {
  const span = { ...tokenSpan(t, path), endColumn: (t.startColumn ?? 1) + Math.min(2, t.image.length) };
  if (t.tokenType.name === 'OpenComment')
    return diag('FLX1001', span, 'this `/*` comment is never closed', 'end it with `*/`');
  const digits = t.image.slice(2).replaceAll('_', '');
  const base = { x: 16, b: 2, o: 8 }[t.image[1]!.toLowerCase() as 'x' | 'b' | 'o'];
  const value = /^[0-9a-fA-F]+$/.test(digits) ? Number.parseInt(digits, base) : Number.NaN;
  return diag(
    'FLX1009',
    tokenSpan(t, path),
    `flex numbers are decimal: \`${t.image}\` is not one`,
    Number.isFinite(value) && value.toString(base) === digits.toLowerCase().replace(/^0+(?=.)/, '')
      ? `write ${value}`
      : undefined,
  );
}
