import type { IToken } from 'chevrotain';
import type * as A from './ast.ts';
import type { Diagnostic, Span } from './diagnostics.ts';
import { parse } from './index.ts';
import { FlexLexer } from './tokens.ts';

const INDENT = '  ';
const OPENERS = new Set(['LBrace', 'LParen', 'LBracket']);
const CLOSERS = new Set(['RBrace', 'RParen', 'RBracket']);
/** Tokens after which `-` negates (it cannot subtract). */
const BEFORE_UNARY = new Set([
  'LParen',
  'LBracket',
  'LBrace',
  'Comma',
  'Colon',
  'Equals',
  'Arrow',
  'Plus',
  'Minus',
  'Star',
  'Slash',
  'At',
  'Return',
  'Repeat',
]);
/** Tokens a call's `(` or an index's `[` follows without a space. */
const CALLABLE = new Set(['Identifier', 'RParen', 'RBracket', 'DType']);

export type FormatResult = { ok: true; text: string } | { ok: false; diagnostics: Diagnostic[] };

/**
 * The canonical layout of a .flex file. Only whitespace changes: the tokens and comments stay in
 * order, so the file means what it meant. Each declaration, statement, hardware or graph item
 * starts a line, with one blank line between declarations; a `{ … }` of fields the source wrote
 * on several lines gets one field a line, one written on one line stays there; other line breaks
 * are the author's (at most one blank line in a row). Indentation is two spaces a nesting level
 * (a continued expression gets one more); spaces within a line follow the token kinds. A file
 * that does not parse is not formatted: its diagnostics come back instead.
 */
export function format(text: string, path = '<input>'): FormatResult {
  const parsed = parse(text, path);
  if (parsed.diagnostics.length) return { ok: false, diagnostics: parsed.diagnostics };
  const tokens = [...FlexLexer.tokenize(text).tokens, ...parsed.comments].sort((a, b) => a.startOffset - b.startOffset);
  const layout = layoutOf(text, parsed.ast, tokens);
  return { ok: true, text: print(text, tokens, layout) };
}

interface Layout {
  /** Tokens that start a line, by offset; `blank`: with a blank line before (a declaration). */
  starts: Map<number, { blank: boolean }>;
  /** Offsets of `{` whose fields or items go one a line, and of their `}`. */
  broken: Set<number>;
  /** Offsets of `/` in a number's unit (`GB/s`) and of `-` that negates: no spaces around. */
  tight: Set<number>;
}

function layoutOf(text: string, ast: A.FlexFile, tokens: IToken[]): Layout {
  // the index of the token where a span starts
  const index = new Map(tokens.map((t, i) => [`${t.startLine}:${t.startColumn}`, i]));
  const indexOf = (s: Span) => index.get(`${s.line}:${s.column}`);
  const starts = new Map<number, { blank: boolean }>();
  const broken = new Set<number>();
  const start = (s: Span, blank = false) => {
    const i = indexOf(s);
    if (i !== undefined) starts.set(tokens[i]!.startOffset, { blank });
  };
  // a `{ … }` is broken when its source has a line break between the braces
  const openerBefore = (s: Span): number | undefined => {
    let i = (indexOf(s) ?? 0) - 1;
    while (i >= 0 && tokens[i]!.tokenType.name.endsWith('Comment')) i--;
    return i >= 0 && tokens[i]!.tokenType.name === 'LBrace' ? i : undefined;
  };
  const items = (spans: Span[], always: boolean) => {
    if (!spans.length) return;
    const open = openerBefore(spans[0]!);
    if (open === undefined) return;
    const close = matching(tokens, open);
    const multiline = always || (close !== undefined && tokens[close]!.startLine !== tokens[open]!.startLine);
    if (!multiline) return;
    broken.add(tokens[open]!.startOffset);
    if (close !== undefined) broken.add(tokens[close]!.startOffset);
    for (const s of spans) start(s);
  };
  const fields = (fs: A.Field[] | undefined, always = false): void => {
    if (!fs) return;
    items(
      fs.map((f) => f.span),
      always,
    );
    for (const f of fs) {
      expr(f.value);
      fields(f.body);
    }
  };
  const expr = (e: A.Expr | undefined): void => {
    if (!e) return;
    switch (e.kind) {
      case 'object':
        return fields(e.fields);
      case 'binary':
        return (expr(e.left), expr(e.right));
      case 'neg':
        return expr(e.operand);
      case 'call':
        expr(e.callee);
        return e.args.forEach((a) => expr(a.value));
      case 'index':
        expr(e.target);
        return e.items.forEach((i) => (i.kind === 'slice' ? (expr(i.start), expr(i.end)) : expr(i)));
      case 'member':
        return expr(e.target);
      case 'list':
        return e.items.forEach(expr);
      default:
        return;
    }
  };
  const stmts = (ss: A.Stmt[]): void => {
    items(
      ss.map((s) => s.span),
      true,
    );
    for (const s of ss) {
      if (s.kind === 'repeat') expr(s.count), stmts(s.body);
      else if (s.kind === 'param') expr(s.init);
      else if (s.kind !== 'input') expr(s.value);
    }
  };
  for (const d of ast.imports) start(d.span);
  ast.decls.forEach((d, i) => {
    start(d.span, i > 0 || ast.imports.length > 0);
    switch (d.kind) {
      case 'layer':
      case 'model':
        d.params.forEach((p) => (expr(p.default), p.type.kind !== 'tensorType' && expr(p.type)));
        return stmts(d.body);
      case 'graph':
        items(
          d.items.map((g) => g.span),
          false,
        );
        return d.items.forEach((g) => (expr(g.value), expr(g.from)));
      case 'hardware':
        items(
          d.items.map((h) => h.span),
          true,
        );
        return d.items.forEach((h) => (expr(h.count), expr(h.value), fields(h.fields)));
      case 'component':
      case 'plan':
        return fields(d.fields, true);
    }
  });
  moveBlanksToLeadingComments(text, tokens, starts);
  return { starts, broken, tight: tightTokens(tokens) };
}

/** The index of the closer matching the opener at `open` (comments skipped). */
function matching(tokens: IToken[], open: number): number | undefined {
  let depth = 0;
  for (let i = open; i < tokens.length; i++) {
    const n = tokens[i]!.tokenType.name;
    if (OPENERS.has(n)) depth++;
    else if (CLOSERS.has(n) && --depth === 0) return i;
  }
  return undefined;
}

/** Slashes inside units (`25 GB/s`, as the parser reads them) and negating minus signs. */
function tightTokens(tokens: IToken[]): Set<number> {
  const code = tokens.filter((t) => !t.tokenType.name.endsWith('Comment'));
  const tight = new Set<number>();
  code.forEach((t, i) => {
    const kind = (k: number) => code[i + k]?.tokenType.name;
    const sameLine = (a: number, b: number) => code[i + a]?.endLine === code[i + b]?.startLine;
    if (
      t.tokenType.name === 'Slash' &&
      kind(-2) === 'NumberLit' &&
      kind(-1) === 'Identifier' &&
      kind(1) === 'Identifier' &&
      sameLine(-2, -1) &&
      sameLine(-1, 1)
    )
      tight.add(t.startOffset);
    if (t.tokenType.name === 'Minus' && (i === 0 || BEFORE_UNARY.has(kind(-1)!))) tight.add(t.startOffset);
  });
  return tight;
}

function print(text: string, tokens: IToken[], { starts, broken, tight }: Layout): string {
  const out: string[] = [];
  /** Open brackets, each with the indent of its content. */
  const frames: { indent: number; kind: string }[] = [];
  let line = '';
  let lineIndent = 0;
  let prev: IToken | undefined;
  let prevCode: IToken | undefined;
  for (const t of tokens) {
    const name = t.tokenType.name;
    const isComment = name.endsWith('Comment');
    const start = starts.get(t.startOffset);
    let breaks = 0;
    if (prev) {
      breaks = Math.min(countNewlines(text, prev.endOffset! + 1, t.startOffset), 2);
      if (start) breaks = Math.max(breaks, start.blank ? 2 : 1);
      if ((name === 'RBrace' && broken.has(t.startOffset)) || prev.tokenType.name === 'LineComment')
        breaks = Math.max(breaks, 1);
      // no blank line just inside brackets
      if (OPENERS.has(prev.tokenType.name) || CLOSERS.has(name)) breaks = Math.min(breaks, 1);
    }
    if (breaks > 0) {
      out.push(line.trimEnd());
      if (breaks > 1) out.push('');
      const top = frames.at(-1);
      let indent = top?.indent ?? 0;
      if (CLOSERS.has(name)) indent--;
      else if (
        !start &&
        !isComment &&
        prevCode &&
        !OPENERS.has(prevCode.tokenType.name) &&
        prevCode.tokenType.name !== 'Comma'
      )
        indent++; // a continued expression
      lineIndent = Math.max(0, indent);
      line = INDENT.repeat(lineIndent);
    } else if (prev) line += space(prev, t, frames.at(-1)?.kind, tight);
    line += t.image;
    if (OPENERS.has(name)) frames.push({ indent: lineIndent + 1, kind: name });
    else if (CLOSERS.has(name)) frames.pop();
    prev = t;
    if (!isComment) prevCode = t;
  }
  out.push(line.trimEnd());
  return `${out.join('\n')}\n`;
}

/**
 * A declaration's blank line goes before the comments that lead it (on lines of their own, right
 * above it, with no blank line between).
 */
function moveBlanksToLeadingComments(text: string, tokens: IToken[], starts: Layout['starts']): void {
  tokens.forEach((t, i) => {
    if (!starts.get(t.startOffset)?.blank) return;
    let first = i;
    while (first > 0) {
      const c = tokens[first - 1]!;
      const ownLine = first - 1 === 0 || countNewlines(text, tokens[first - 2]!.endOffset! + 1, c.startOffset) > 0;
      if (
        !c.tokenType.name.endsWith('Comment') ||
        !ownLine ||
        countNewlines(text, c.endOffset! + 1, tokens[first]!.startOffset) !== 1
      )
        break;
      first--;
    }
    if (first === i) return;
    starts.set(t.startOffset, { blank: false });
    starts.set(tokens[first]!.startOffset, { blank: true });
  });
}

function countNewlines(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** The space between two tokens on one line. */
function space(a: IToken, b: IToken, frame: string | undefined, tight: Set<number>): string {
  const x = a.tokenType.name;
  const y = b.tokenType.name;
  if (y.endsWith('Comment')) return '  ';
  if (x === 'Comma') return ' ';
  if (x === 'LBrace') return y === 'RBrace' ? '' : ' ';
  if (y === 'RBrace') return ' ';
  if (x === 'LParen' || x === 'LBracket' || y === 'RParen' || y === 'RBracket' || y === 'Comma') return '';
  if (x === 'Dot' || y === 'Dot') return '';
  if (tight.has(a.startOffset) && (x === 'Minus' || x === 'Slash')) return '';
  if (tight.has(b.startOffset) && y === 'Slash') return '';
  if (y === 'Colon') return '';
  if (x === 'Colon') return frame === 'LBracket' ? '' : ' ';
  if (y === 'LParen' || y === 'LBracket') return CALLABLE.has(x) ? '' : ' ';
  return ' ';
}
