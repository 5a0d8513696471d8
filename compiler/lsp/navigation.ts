import { pathToFileURL } from 'node:url';
import type { Location, Position } from 'vscode-languageserver';
import { fromPosition, toRange } from './positions.ts';
import { symbolAt, type Def } from './symbols.ts';
import type { Workspace } from './workspace.ts';

const uri = (abs: string) => pathToFileURL(abs).href;
const at = (d: Def): Location => ({ uri: uri(d.file.abs), range: toRange(d.span) });

/** Go to definition: where the name at the position is declared (an import's file for the string after `from`). */
export function definition(ws: Workspace, path: string, pos: Position): Location[] {
  const a = ws.analyze(path);
  if (!a) return [];
  const { line, column } = fromPosition(pos);
  const hit = symbolAt(a.index, a.file, line, column);
  if (hit?.ref?.module)
    return [
      { uri: uri(hit.ref.module.abs), range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } },
    ];
  return hit?.def ? [at(hit.def)] : [];
}

/**
 * Find references: every use of the name at the position in the file and the files it imports (and its declaration,
 * when asked).
 */
export function references(ws: Workspace, path: string, pos: Position, includeDeclaration = true): Location[] {
  const a = ws.analyze(path);
  if (!a) return [];
  const { line, column } = fromPosition(pos);
  const target = symbolAt(a.index, a.file, line, column)?.def;
  if (!target) return [];
  const uses = a.index.refs
    .filter((r) => r.def === target)
    .map((r) => ({ uri: uri(r.file.abs), range: toRange(r.span) }));
  return includeDeclaration ? [at(target), ...uses] : uses;
}
