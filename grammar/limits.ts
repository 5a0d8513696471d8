import type { IToken } from 'chevrotain';
import type { FlexFile } from './ast.ts';
import { diag, type Diagnostic, type Span } from './diagnostics.ts';

/**
 * How deep a program may nest. The parser, the elaborator and the printer recurse over the syntax,
 * so nesting is bounded before any of them runs, with a diagnostic instead of a stack overflow.
 */
export const MAX_BRACKETS = 64;
/** Operators and operands nested in one expression (a chain of 300 `+` is 300 deep). */
export const MAX_EXPRESSION_DEPTH = 256;

const OPEN = new Set(['LParen', 'LBracket', 'LBrace']);
const CLOSE = new Set(['RParen', 'RBracket', 'RBrace']);
const MATCH: Record<string, string> = { RParen: 'LParen', RBracket: 'LBracket', RBrace: 'LBrace' };

/** The span of one token. */
export const tokenSpan = (t: IToken, path: string): Span => ({
  file: path,
  line: t.startLine ?? 1,
  column: t.startColumn ?? 1,
  endLine: t.startLine ?? 1,
  endColumn: (t.startColumn ?? 1) + t.image.length,
});

/** The first place where brackets, or a run of prefix minus signs, nest deeper than the parser may go. */
export function tokenNesting(tokens: IToken[], path: string): Diagnostic | undefined {
  // the open brackets; a closer of another kind closes nothing (`{ B: 2)` leaves one more open)
  const open: string[] = [];
  let run = 0;
  for (const t of tokens) {
    const kind = t.tokenType.name;
    if (OPEN.has(kind) && open.push(kind) > MAX_BRACKETS)
      return diag(
        'FLX1008',
        tokenSpan(t, path),
        `brackets nest more than ${MAX_BRACKETS} deep here`,
        'name the inner parts with `let`',
      );
    if (CLOSE.has(kind) && open.at(-1) === MATCH[kind]) open.pop();
    run = kind === 'Minus' ? run + 1 : 0;
    if (run > MAX_BRACKETS)
      return diag('FLX1008', tokenSpan(t, path), `more than ${MAX_BRACKETS} minus signs in a row`);
  }
  return undefined;
}

const EXPRESSIONS = new Set([
  'number',
  'string',
  'bool',
  'name',
  'binary',
  'neg',
  'call',
  'index',
  'member',
  'list',
  'object',
]);

/** The first expression nested deeper than MAX_EXPRESSION_DEPTH (at its outermost), found without recursion. */
export function expressionDepth(ast: FlexFile): Diagnostic | undefined {
  // each entry: a node, its depth, and the span of its outermost enclosing expression
  const stack: [unknown, number, Span | undefined][] = [[ast, 0, undefined]];
  while (stack.length) {
    const [node, depth, outer] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      for (const x of node) stack.push([x, depth, outer]);
      continue;
    }
    const n = node as { kind?: string; span?: Span };
    const expr = n.kind !== undefined && EXPRESSIONS.has(n.kind);
    const top = outer ?? (expr ? n.span : undefined);
    if (depth > MAX_EXPRESSION_DEPTH && top)
      return diag(
        'FLX1008',
        top,
        `this expression nests more than ${MAX_EXPRESSION_DEPTH} deep`,
        'split a long chain of operators with `let`',
      );
    for (const [k, v] of Object.entries(n)) if (k !== 'span') stack.push([v, expr ? depth + 1 : depth, top]);
  }
  return undefined;
}
