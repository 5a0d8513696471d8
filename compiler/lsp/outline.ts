import { FoldingRangeKind, SymbolKind, type DocumentSymbol, type FoldingRange } from 'vscode-languageserver';
import type * as A from '../../grammar/ast.ts';
import type { Span } from '../../grammar/diagnostics.ts';
import { FlexLexer } from '../../grammar/tokens.ts';
import { toRange } from './positions.ts';
import { headerOf } from './source-text.ts';
import type { Workspace } from './workspace.ts';

const KIND: Record<A.Decl['kind'], SymbolKind> = {
  layer: SymbolKind.Function,
  model: SymbolKind.Class,
  graph: SymbolKind.Struct,
  hardware: SymbolKind.Module,
  component: SymbolKind.Constant,
  plan: SymbolKind.Object,
};

const symbol = (
  name: string,
  detail: string,
  kind: SymbolKind,
  span: Span,
  nameSpan: Span,
  children?: DocumentSymbol[],
): DocumentSymbol => ({
  name: name || '?',
  detail,
  kind,
  range: toRange(span),
  selectionRange: toRange(nameSpan),
  ...(children?.length ? { children } : {}),
});

/**
 * The outline: declarations, with a layer's or model's parameters and named values, a plan's or part's fields, a
 * graph's items.
 */
export function documentSymbols(ws: Workspace, path: string): DocumentSymbol[] {
  const a = ws.analyze(path);
  if (!a) return [];
  const stmts = (ss: A.Stmt[]): DocumentSymbol[] =>
    ss.flatMap((s) => {
      if (s.kind === 'repeat')
        return [symbol(`repeat as ${s.var.name}`, '', SymbolKind.Namespace, s.span, s.var.span, stmts(s.body))];
      if (s.kind === 'return') return [];
      const kind =
        s.kind === 'param'
          ? SymbolKind.Field
          : s.kind === 'input'
            ? SymbolKind.Variable
            : s.kind === 'output'
              ? SymbolKind.Event
              : SymbolKind.Variable;
      return [symbol(s.name.name, s.kind, kind, s.span, s.name.span)];
    });
  const fields = (fs: A.Field[]) => fs.map((f) => symbol(f.key.name, '', SymbolKind.Property, f.span, f.key.span));
  return a.file.ast.decls
    .filter((d) => d.name.name !== '<missing>')
    .map((d) => {
      let children: DocumentSymbol[] = [];
      if (d.kind === 'layer' || d.kind === 'model')
        children = [
          ...d.params.map((p) => symbol(p.name.name, 'parameter', SymbolKind.TypeParameter, p.span, p.name.span)),
          ...stmts(d.body),
        ];
      else if (d.kind === 'plan' || d.kind === 'component') children = fields(d.fields);
      else if (d.kind === 'graph')
        children = d.items.map((g) => symbol(g.name.name, '', SymbolKind.Field, g.span, g.name.span));
      else if (d.kind === 'hardware')
        children = d.items.map((h) => symbol(h.what.name, '', SymbolKind.Property, h.span, h.what.span));
      return symbol(d.name.name, headerOf(a.file, d), KIND[d.kind], d.span, d.name.span, children);
    });
}

/** Folding: brackets that span lines, runs of comment lines and block comments, and the imports. */
export function foldingRanges(ws: Workspace, path: string): FoldingRange[] {
  const text = ws.text(path);
  if (text === undefined) return [];
  const lexed = FlexLexer.tokenize(text);
  const out: FoldingRange[] = [];
  const open: number[] = [];
  for (const t of lexed.tokens) {
    const n = t.tokenType.name;
    if (n === 'LBrace' || n === 'LParen' || n === 'LBracket') open.push(t.startLine!);
    else if (n === 'RBrace' || n === 'RParen' || n === 'RBracket') {
      const start = open.pop();
      if (start !== undefined && t.startLine! - 1 > start)
        out.push({ startLine: start - 1, endLine: t.startLine! - 2 });
    }
  }
  let run: [number, number] | undefined;
  const flush = () => {
    if (run && run[1] > run[0])
      out.push({ startLine: run[0] - 1, endLine: run[1] - 1, kind: FoldingRangeKind.Comment });
    run = undefined;
  };
  for (const c of lexed.groups['comments'] ?? []) {
    if (c.tokenType.name === 'BlockComment') {
      flush();
      if (c.endLine! > c.startLine!)
        out.push({ startLine: c.startLine! - 1, endLine: c.endLine! - 1, kind: FoldingRangeKind.Comment });
    } else if (run && c.startLine === run[1] + 1) run[1] = c.startLine!;
    else flush(), (run = [c.startLine!, c.startLine!]);
  }
  flush();
  const imports = lexed.tokens.filter((t) => t.tokenType.name === 'Import');
  if (imports.length > 1)
    out.push({
      startLine: imports[0]!.startLine! - 1,
      endLine: imports.at(-1)!.startLine! - 1,
      kind: FoldingRangeKind.Imports,
    });
  return out.sort((x, y) => x.startLine - y.startLine || y.endLine - x.endLine);
}
