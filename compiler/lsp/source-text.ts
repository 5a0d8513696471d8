import type * as A from '../../grammar/ast.ts';
import type { Span } from '../../grammar/diagnostics.ts';
import type { SourceFile } from '../sema/program.ts';
import { offsetOf } from './positions.ts';

export const sourceOf = (file: SourceFile, s: Span): string =>
  file.text.slice(offsetOf(file.text, s.line, s.column), offsetOf(file.text, s.endLine, s.endColumn));

/** A declaration up to its body: `layer Mlp(x: f32[..., D], hidden: int) -> f32[..., D]`, on one line. */
export function headerOf(file: SourceFile, d: A.Decl): string {
  const text = file.text;
  let depth = 0;
  let i = offsetOf(text, d.span.line, d.span.column);
  const start = i;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === '{' && depth <= 0) break;
    else if (c === '/' && text[i + 1] === '/') i = text.indexOf('\n', i) < 0 ? text.length : text.indexOf('\n', i);
  }
  return text
    .slice(start, i)
    .replace(/\/\/[^\n]*/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The `//` comment lines right above a line (no blank line between), without the slashes. */
export function docAbove(file: SourceFile, line: number): string {
  const lines = file.text.split('\n');
  const doc: string[] = [];
  for (let l = line - 2; l >= 0; l--) {
    const m = /^\s*\/\/ ?(.*)$/.exec(lines[l]!);
    if (!m) break;
    doc.unshift(m[1]!);
  }
  return doc.join('\n');
}
