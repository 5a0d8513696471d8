import type { TextEdit } from 'vscode-languageserver';
import { format } from '../../grammar/format.ts';
import { positionAt } from './positions.ts';
import type { Workspace } from './workspace.ts';

/**
 * Formatting through `flexc fmt`'s formatter: one edit replacing the document, none when it is formatted or does not
 * parse.
 */
export function formatting(ws: Workspace, path: string): TextEdit[] {
  const text = ws.text(path);
  if (text === undefined) return [];
  const r = format(text, path);
  if (!r.ok || r.text === text) return [];
  return [{ range: { start: { line: 0, character: 0 }, end: positionAt(text, text.length) }, newText: r.text }];
}
