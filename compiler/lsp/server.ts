import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  createConnection,
  DiagnosticSeverity,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type CancellationToken,
  type Connection,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { AnalyzerClient, DEFAULT_LIMITS, type AnalyzerLimits } from './analyzer-client.ts';
import type { Method, Params, Result } from './analyzer.ts';

/** How long typing must pause before the file is checked again. */
const CHECK_DELAY_MS = 250;

const pathOf = (uri: string) => (uri.startsWith('file:') ? fileURLToPath(uri) : uri);

/**
 * `flexc lsp --stdio`: the language server. The handlers are the pure functions beside this file; they run in the
 * analyser's worker thread (analyzer.ts), so this thread answers every request while an analysis runs: a request
 * the analyser has not answered within `limits.answerWithin` gets an empty answer, an analysis of text that has
 * since changed is cancelled, and one that runs past `limits.giveUpAfter` is stopped with FLX1010 on its document.
 * A handler that throws answers nothing for that request (and logs), so a half-typed file never stops the server.
 */
export function startServer(
  connection: Connection = createConnection(ProposedFeatures.all),
  limits: AnalyzerLimits = DEFAULT_LIMITS,
): void {
  const docs = new TextDocuments(TextDocument);
  const analyzer = new AnalyzerClient(limits, (m) => connection.console.error(m));
  const timers = new Map<string, NodeJS.Timeout>();
  const published = new Set<string>();
  /** Documents whose analysis ran past the limit, by the version it gave up on: not retried until they change. */
  const gaveUp = new Map<string, number>();

  const ask = async <M extends Method>(
    method: M,
    params: Params<M>,
    fallback: Result<M>,
    token?: CancellationToken,
  ): Promise<Result<M>> => {
    if (token?.isCancellationRequested) return fallback;
    const o = await analyzer.ask(method, params, limits.answerWithin);
    return o.ok ? o.value : fallback;
  };

  const check = async (uri: string) => {
    const version = docs.get(uri)?.version;
    if (version === undefined || gaveUp.get(uri) === version) return;
    const o = await analyzer.ask('diagnose', { path: pathOf(uri) });
    if (docs.get(uri)?.version !== version) return;
    if (!o.ok) {
      if (o.why !== 'gave-up') return;
      gaveUp.set(uri, version);
      published.add(uri);
      const message =
        `flexc stopped analysing this file after ${limits.giveUpAfter / 1000} s; ` +
        '`flexc check` checks it without a time limit';
      const range = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
      void connection.sendDiagnostics({
        uri,
        diagnostics: [{ range, severity: DiagnosticSeverity.Warning, code: 'FLX1010', source: 'flexc', message }],
      });
      return;
    }
    for (const [abs, diagnostics] of o.value) {
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
        setTimeout(() => (timers.delete(d.uri), void check(d.uri)), CHECK_DELAY_MS),
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
  docs.onDidOpen((e) => (analyzer.set(pathOf(e.document.uri), e.document.getText()), schedule()));
  docs.onDidChangeContent((e) => (analyzer.set(pathOf(e.document.uri), e.document.getText()), schedule()));
  docs.onDidClose((e) => {
    analyzer.close(pathOf(e.document.uri));
    clearTimeout(timers.get(e.document.uri));
    gaveUp.delete(e.document.uri);
    if (published.delete(e.document.uri)) void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });
  connection.onShutdown(() => analyzer.dispose());

  const at = (p: { textDocument: { uri: string }; position: { line: number; character: number } }) => ({
    path: pathOf(p.textDocument.uri),
    position: p.position,
  });
  const doc = (p: { textDocument: { uri: string } }) => ({ path: pathOf(p.textDocument.uri) });
  connection.onHover((p, t) => ask('hover', at(p), null, t));
  connection.onDefinition((p, t) => ask('definition', at(p), [], t));
  connection.onReferences((p, t) =>
    ask('references', { ...at(p), includeDeclaration: p.context.includeDeclaration }, [], t),
  );
  connection.onCompletion((p, t) => ask('completion', at(p), [], t));
  connection.onDocumentSymbol((p, t) => ask('symbols', doc(p), [], t));
  connection.onFoldingRanges((p, t) => ask('folding', doc(p), [], t));
  connection.onDocumentFormatting((p, t) => ask('formatting', doc(p), [], t));

  docs.listen(connection);
  connection.listen();
}
