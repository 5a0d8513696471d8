import type { Position, Range } from 'vscode-languageserver';
import type { Span } from '../../grammar/diagnostics.ts';

/** A span (1-based lines and columns, end exclusive) as an LSP range (0-based). */
export const toRange = (s: Span): Range => ({
  start: { line: s.line - 1, character: s.column - 1 },
  end: { line: s.endLine - 1, character: s.endColumn - 1 },
});

/** An LSP position as the 1-based line and column spans use. */
export const fromPosition = (p: Position): { line: number; column: number } => ({
  line: p.line + 1,
  column: p.character + 1,
});

/** The offset of a 1-based line and column in a text (a column past the line's end counts as its end). */
export function offsetOf(text: string, line: number, column: number): number {
  let i = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', i);
    if (nl < 0) return text.length;
    i = nl + 1;
  }
  const end = text.indexOf('\n', i);
  return Math.min(i + column - 1, end < 0 ? text.length : end);
}

/** The LSP position of an offset. */
export function positionAt(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}
