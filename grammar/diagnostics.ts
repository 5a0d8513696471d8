import type { Code } from './codes.ts';
/** One diagnostic type for the CLI, the language server and the tests. */
export interface Span {
  file: string;
  line: number; // 1-based
  column: number; // 1-based
  endLine: number;
  endColumn: number; // exclusive, 1-based
}

export type Severity = 'error' | 'warning' | 'note';

/** Where a diagnostic raised inside a layer was called from (as rustc's macro backtraces). */
export interface TraceFrame {
  span: Span;
  note: string;
}

export interface Diagnostic {
  code: string;
  severity: Severity;
  span: Span;
  message: string;
  hint?: string;
  /** The calls that led to it, innermost first: a layer's call, its caller's, up to the user's file. */
  trace?: TraceFrame[];
}

export function diag(code: Code, span: Span, message: string, hint?: string): Diagnostic {
  return hint === undefined
    ? { code, severity: 'error', span, message }
    : { code, severity: 'error', span, message, hint };
}

/** Thrown inside the compiler to abort one unit of work with a diagnostic. */
/**
 * Appends `more` to `out` one by one: spreading a long list (a diagnostic per line of a huge file) overflows the stack.
 */
export function addDiagnostics(out: Diagnostic[], more: Iterable<Diagnostic>): void {
  for (const d of more) out.push(d);
}

export class DiagnosticError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

export function fail(code: Code, span: Span, message: string, hint?: string): never {
  throw new DiagnosticError(diag(code, span, message, hint));
}

export interface JsonDiagnostic {
  code: string;
  severity: Severity;
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  message: string;
  hint: string | null;
  trace: ({ note: string } & Span)[];
}

export function toJson(d: Diagnostic): JsonDiagnostic {
  const { file, line, column, endLine, endColumn } = d.span;
  return {
    code: d.code,
    severity: d.severity,
    file,
    line,
    column,
    endLine,
    endColumn,
    message: d.message,
    hint: d.hint ?? null,
    trace: (d.trace ?? []).map((t) => ({ note: t.note, ...t.span })),
  };
}

/**
 * Renders `error[FLX2001]: message`, ` --> file:line:col`, the source line and a caret span.
 * `source` maps a file name to its text.
 */
export function render(d: Diagnostic, source: (file: string) => string | undefined, color = false): string {
  const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const sevColor = d.severity === 'error' ? '1;31' : d.severity === 'warning' ? '1;33' : '1;36';
  const out = [
    `${paint(sevColor, `${d.severity}[${d.code}]`)}: ${paint('1', d.message)}`,
    ...snippet(d.span, source, (s) => paint(sevColor, s)),
  ];
  if (d.hint) out.push(`  = hint: ${d.hint}`);
  for (const t of d.trace ?? [])
    out.push(`${paint('1;36', 'note')}: ${t.note}`, ...snippet(t.span, source, (s) => paint('1;36', s)));
  return out.join('\n');
}

/** ` --> file:line:col`, the source line and a caret under the span. */
function snippet(span: Span, source: (file: string) => string | undefined, paint: (s: string) => string): string[] {
  const { file, line, column } = span;
  const out = [`  --> ${file}:${line}:${column}`];
  const text = source(file);
  const src = text === undefined ? undefined : linesOf(text)[line - 1];
  if (src !== undefined) {
    const pad = ' '.repeat(String(line).length);
    const endCol = span.endLine === line ? Math.max(span.endColumn, column + 1) : src.length + 1;
    const shown = displayLine(src, column, Math.min(endCol, src.length + 1));
    out.push(
      `${pad} |`,
      `${line} | ${shown.text}`,
      `${pad} | ${' '.repeat(shown.caret)}${paint('^'.repeat(shown.width))}`,
    );
  }
  return out;
}

/** The lines of a text as the lexer counts them (CR LF, a lone CR or LF end a line); the last text's are kept. */
let lastText: string | undefined;
let lastLines: string[] = [];
function linesOf(text: string): string[] {
  if (text !== lastText) [lastText, lastLines] = [text, text.split(/\r\n|\r|\n/)];
  return lastLines;
}

const WINDOW = 120;

/**
 * A source line as a terminal shows it safely: tabs as four spaces, control characters as their
 * pictures (U+2400…), and a long line cut to a window around the span; with the caret's column and width.
 */
function displayLine(src: string, column: number, endCol: number): { text: string; caret: number; width: number } {
  let from = 0;
  let to = src.length;
  if (src.length > WINDOW) {
    from = Math.max(0, Math.min(column - 1 - WINDOW / 3, src.length - WINDOW));
    to = Math.min(src.length, from + WINDOW);
  }
  let text = from > 0 ? '…' : '';
  let caret = -1;
  let caretEnd = -1;
  for (let i = from; i <= to; i++) {
    if (i === column - 1) caret = text.length;
    if (i === Math.min(endCol - 1, to)) caretEnd = text.length;
    if (i === to) break;
    const c = src[i]!;
    const code = c.charCodeAt(0);
    text += c === '\t' ? '    ' : code < 0x20 ? String.fromCharCode(0x2400 + code) : code === 0x7f ? '\u2421' : c;
  }
  if (to < src.length) text += '…';
  if (caret < 0) caret = column - 1 < from ? (from > 0 ? 1 : 0) : text.length;
  return { text, caret, width: Math.max(1, (caretEnd < 0 ? text.length : caretEnd) - caret) };
}

/** Edit distance with adjacent transpositions (optimal string alignment), case-insensitive, for did-you-mean hints. */
export function editDistance(a: string, b: string): number {
  return distanceWithin(a.toLowerCase(), b.toLowerCase(), Infinity);
}

/** Three rows of the table, reused: two back (for transpositions), one back, this one. */
let rows = [new Int32Array(66), new Int32Array(66), new Int32Array(66)];

/** The distance of two lowercased strings, or `limit + 1` as soon as it must exceed `limit`. */
function distanceWithin(A: string, B: string, limit: number): number {
  const w = B.length + 1;
  if (rows[0]!.length < w) rows = rows.map(() => new Int32Array(w));
  let [back2, back, row] = rows as [Int32Array, Int32Array, Int32Array];
  for (let j = 0; j < w; j++) back[j] = j;
  for (let i = 1; i <= A.length; i++) {
    row[0] = i;
    let least = i;
    for (let j = 1; j <= B.length; j++) {
      const cost = A[i - 1] === B[j - 1] ? 0 : 1;
      let v = Math.min(back[j]! + 1, row[j - 1]! + 1, back[j - 1]! + cost);
      if (i > 1 && j > 1 && A[i - 1] === B[j - 2] && A[i - 2] === B[j - 1]) v = Math.min(v, back2[j - 2]! + 1);
      row[j] = v;
      if (v < least) least = v;
    }
    if (least > limit) return limit + 1;
    [back2, back, row] = [back, row, back2];
  }
  return back[B.length]!;
}

/** Names longer than this get no suggestion (a 30,000-character typo must not cost gigabytes). */
const SUGGEST_LENGTH = 64;
/** Candidates compared at most, so that 20,000 undefined names among 20,000 do not take minutes. */
const SUGGEST_CANDIDATES = 500;

export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  if (name.length > SUGGEST_LENGTH) return undefined;
  const limit = Math.max(1, Math.floor(name.length / 3));
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestD = limit + 1;
  let compared = 0;
  for (const c of candidates) {
    // the distance is at least the difference in length: most candidates need no table
    if (Math.abs(c.length - name.length) > limit || c.length > SUGGEST_LENGTH) continue;
    if (++compared > SUGGEST_CANDIDATES) break;
    const d = distanceWithin(lower, c.toLowerCase(), bestD - 1);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined ? `did you mean \`${best}\`?` : undefined;
}
