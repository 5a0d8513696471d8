import { parentPort } from 'node:worker_threads';
import type { Position } from 'vscode-languageserver';
import { completion } from './completion.ts';
import { diagnose } from './diagnostics.ts';
import { formatting } from './formatting.ts';
import { hover } from './hover.ts';
import { definition, references } from './navigation.ts';
import { documentSymbols, foldingRanges } from './outline.ts';
import { Workspace } from './workspace.ts';

/**
 * The language server's analyser: a worker thread that owns a Workspace and answers the handlers' questions in the
 * order they arrive, so that the server's own thread stays free to answer the editor (and can stop this thread when
 * what it is analysing has changed, or takes too long). analyzer-client.ts speaks to it.
 */
interface At {
  path: string;
  position: Position;
}
const handlers = {
  diagnose: (ws: Workspace, p: { path: string }) => [...diagnose(ws, p.path)],
  hover: (ws: Workspace, p: At) => hover(ws, p.path, p.position),
  definition: (ws: Workspace, p: At) => definition(ws, p.path, p.position),
  references: (ws: Workspace, p: At & { includeDeclaration: boolean }) =>
    references(ws, p.path, p.position, p.includeDeclaration),
  completion: (ws: Workspace, p: At) => completion(ws, p.path, p.position),
  symbols: (ws: Workspace, p: { path: string }) => documentSymbols(ws, p.path),
  folding: (ws: Workspace, p: { path: string }) => foldingRanges(ws, p.path),
  formatting: (ws: Workspace, p: { path: string }) => formatting(ws, p.path),
};

export type Method = keyof typeof handlers;
export type Params<M extends Method> = Parameters<(typeof handlers)[M]>[1];
export type Result<M extends Method> = ReturnType<(typeof handlers)[M]>;

/** What the server sends: a document's text, its closing, or a question with an id. */
export type ToAnalyzer =
  | { kind: 'set'; path: string; text: string }
  | { kind: 'close'; path: string }
  | { kind: 'ask'; id: number; method: Method; params: unknown };

/** The answer to question `id`: its result, or the error its handler threw. */
export type FromAnalyzer = { id: number; result: unknown } | { id: number; error: string };

if (parentPort) {
  const port = parentPort;
  const ws = new Workspace();
  port.on('message', (m: ToAnalyzer) => {
    if (m.kind === 'set') return ws.set(m.path, m.text);
    if (m.kind === 'close') return ws.close(m.path);
    try {
      const result = (handlers[m.method] as (ws: Workspace, p: unknown) => unknown)(ws, m.params);
      port.postMessage({ id: m.id, result } satisfies FromAnalyzer);
    } catch (e) {
      port.postMessage({ id: m.id, error: String((e as Error).stack ?? e) } satisfies FromAnalyzer);
    }
  });
}
