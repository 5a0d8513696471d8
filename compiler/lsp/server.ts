import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createConnection,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type Connection,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { completion } from './completion.ts';
import { diagnose } from './diagnostics.ts';
import { formatting } from './formatting.ts';
import { hover } from './hover.ts';
import { definition, references } from './navigation.ts';
import { documentSymbols, foldingRanges } from './outline.ts';
import { Workspace } from './workspace.ts';

/** How long typing must pause before the file is checked again. */
const CHECK_DELAY_MS = 250;

const pathOf = (uri: string) => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);

/**
 * `flexc lsp --stdio`: the language server. The handlers are the pure functions beside this file,
 * over a Workspace that holds the open documents; this wires them to the protocol. A handler that
 * throws answers nothing for that request (and logs), so a half-typed file never stops the server.
 */
export function startServer(connection: Connection = createConnection(ProposedFeatures.all)): void {
  const docs = new TextDocuments(TextDocument);
  const ws = new Workspace();
  const timers = new Map<string, NodeJS.Timeout>();
  const published = new Set<string>();

  const safe = <T>(what: string, fallback: T, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      connection.console.error(`flexc lsp: ${what} failed: ${(e as Error).stack ?? e}`);
      return fallback;
    }
  };

  const check = (uri: string) => {
    const path = pathOf(uri);
    const byFile = safe('check', new Map(), () => diagnose(ws, path));
    for (const [abs, diagnostics] of byFile) {
      const u = pathToFileURL(abs).href;
      // the checked file always hears its result; an imported one only when it has or had problems
      if (u !== uri && !diagnostics.length && !published.has(u)) continue;
      if (diagnostics.length) published.add(u);
      else published.delete(u);
      void connection.sendDiagnostics({ uri: u, diagnostics });
    }
  };
  // a change to one file can fix or break the files that import it: check every open file
  const schedule = () => {
    for (const d of docs.all()) {
      clearTimeout(timers.get(d.uri));
      timers.set(
        d.uri,
        setTimeout(() => (timers.delete(d.uri), check(d.uri)), CHECK_DELAY_MS),
      );
    }
  };

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      hoverProvider: true,
      definitionProvider: true,
      referencesProvider: true,
      completionProvider: { triggerCharacters: ['(', ',', ':', ' ', '{'] },
      documentSymbolProvider: true,
      foldingRangeProvider: true,
      documentFormattingProvider: true,
    },
    serverInfo: { name: 'flexc', version: '0.1.0' },
  }));
  docs.onDidOpen((e) => (ws.set(pathOf(e.document.uri), e.document.getText()), schedule()));
  docs.onDidChangeContent((e) => (ws.set(pathOf(e.document.uri), e.document.getText()), schedule()));
  docs.onDidClose((e) => {
    ws.close(pathOf(e.document.uri));
    clearTimeout(timers.get(e.document.uri));
    if (published.delete(e.document.uri)) void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onHover((p) => safe('hover', null, () => hover(ws, pathOf(p.textDocument.uri), p.position)));
  connection.onDefinition((p) => safe('definition', [], () => definition(ws, pathOf(p.textDocument.uri), p.position)));
  connection.onReferences((p) =>
    safe('references', [], () => references(ws, pathOf(p.textDocument.uri), p.position, p.context.includeDeclaration)),
  );
  connection.onCompletion((p) => safe('completion', [], () => completion(ws, pathOf(p.textDocument.uri), p.position)));
  connection.onDocumentSymbol((p) => safe('symbols', [], () => documentSymbols(ws, pathOf(p.textDocument.uri))));
  connection.onFoldingRanges((p) => safe('folding', [], () => foldingRanges(ws, pathOf(p.textDocument.uri))));
  connection.onDocumentFormatting((p) => safe('formatting', [], () => formatting(ws, pathOf(p.textDocument.uri))));

  docs.listen(connection);
  connection.listen();
}
