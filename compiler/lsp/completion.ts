import type { IToken } from 'chevrotain';
import { CompletionItemKind, type CompletionItem, type Position } from 'vscode-languageserver';
import type * as A from '../../grammar/ast.ts';
import { PART_KINDS } from '../../grammar/parser.ts';
import { DTYPES, FlexLexer } from '../../grammar/tokens.ts';
import { BUILTINS, INITS } from '../sema/builtins.ts';
import { PART_FIELDS } from '../sema/hardware.ts';
import { PLAN_FIELDS, PlanConfig } from '../sema/plan.ts';
import { resolveImport, type DeclRef } from '../sema/program.ts';
import { fromPosition, offsetOf } from './positions.ts';
import { headerOf, sourceOf } from './source-text.ts';
import type { Workspace } from './workspace.ts';

const DECL_KEYWORDS = ['import', 'layer', 'model', 'graph', 'hardware', 'plan', ...PART_KINDS];
const STMT_KEYWORDS = ['input', 'param', 'let', 'output', 'return', 'repeat'];
const HW_ITEMS = ['gpu', 'host', 'ssd', 'node', 'network', 'link'];
const { shape } = PlanConfig;
/** The words a plan field takes, from the plan schema (`task` is written `train`, `finetune` or `infer`). */
const PLAN_VALUES: Record<string, readonly string[]> = {
  checkpoint: [...shape.checkpoint.options[0].options, 'every'],
  precision: shape.precision.options,
  target: shape.target.options,
  fuse: shape.fuse.element.options,
  placement: shape.placement.options,
  task: ['train', 'finetune', 'infer'],
};
const DECL_STARTS = new Set(['Import', 'Layer', 'Model', 'Graph', 'Hardware', 'Plan', 'Link']);
const KIND_OF: Record<A.Decl['kind'], CompletionItemKind> = {
  layer: CompletionItemKind.Function,
  model: CompletionItemKind.Class,
  graph: CompletionItemKind.Struct,
  hardware: CompletionItemKind.Module,
  component: CompletionItemKind.Constant,
  plan: CompletionItemKind.Reference,
};

const item = (label: string, kind: CompletionItemKind, detail?: string, insertText?: string): CompletionItem => ({
  label,
  kind,
  ...(detail ? { detail } : {}),
  ...(insertText ? { insertText } : {}),
});
const keywords = (ws: readonly string[]) => ws.map((w) => item(w, CompletionItemKind.Keyword));

/**
 * Completion from the text before the cursor (so it works on a half-typed file): declaration
 * keywords at the top level; in a body, statement keywords, the names defined so far, the
 * declarations in scope, builtin ops and dtypes; after `=` in a `param`, initialisers; in a call,
 * the callee's named arguments; in a plan, its fields and their values; in hardware, its items and
 * the parts in scope; in a part, its fields; in `import { … }`, what the module declares.
 */
export function completion(ws: Workspace, path: string, pos: Position): CompletionItem[] {
  const text = ws.text(path);
  if (text === undefined) return [];
  const { line, column } = fromPosition(pos);
  const offset = offsetOf(text, line, column);
  const before = text.slice(0, offset);
  const word = /[A-Za-z_][A-Za-z0-9_]*$/.exec(before)?.[0] ?? '';
  const lexed = FlexLexer.tokenize(before.slice(0, before.length - word.length));
  if (inCommentOrString(before, lexed.groups['comments'] ?? [])) return [];
  const tokens = lexed.tokens;
  const frames: IToken[] = [];
  let decl: IToken | undefined;
  tokens.forEach((t, i) => {
    const n = t.tokenType.name;
    if (
      !frames.length &&
      (DECL_STARTS.has(n) ||
        (n === 'Identifier' && PART_KINDS.includes(t.image) && tokens[i + 2]?.tokenType.name !== 'Colon'))
    )
      decl = t;
    if (n === 'LBrace' || n === 'LParen' || n === 'LBracket') frames.push(t);
    else if ((n === 'RBrace' || n === 'RParen' || n === 'RBracket') && frames.length) frames.pop();
  });
  const prev = tokens.at(-1);
  const prevName = prev?.tokenType.name;
  if (!frames.length)
    return prevName && ['Layer', 'Model', 'Graph', 'Hardware', 'Plan'].includes(prevName)
      ? []
      : keywords(DECL_KEYWORDS);

  const a = ws.analyze(path);
  const scope = a ? [...(a.program.scopes.get(a.file)?.values() ?? [])] : [];
  const declItems = (kinds: A.Decl['kind'][], what?: string) =>
    scope
      .filter(
        (r) => kinds.includes(r.decl.kind) && (!what || (r.decl.kind === 'component' && r.decl.what.name === what)),
      )
      .map((r) => item(r.decl.name.name, KIND_OF[r.decl.kind], headerOf(r.file, r.decl)));
  const top = frames.at(-1)!;
  const kind = decl?.tokenType.name;
  const fieldKey = () => {
    // the key of the field whose value is being typed (`memory: {` … or `checkpoint: `); a link's is `link`
    for (let i = tokens.length - 1; i > 0; i--)
      if (tokens[i]!.tokenType.name === 'Colon')
        return tokens[i - 2]?.tokenType.name === 'BiArrow' ? 'link' : tokens[i - 1]!.image;
    return undefined;
  };

  if (kind === 'Import') {
    const from = /^[^}]*\}\s*from\s*"([^"]*)"/.exec(text.slice(offset))?.[1];
    const target = from && a ? resolveImport(from, a.file, a.program.root) : undefined;
    const mod = target && 'abs' in target ? ws.analyze(target.abs) : undefined;
    return mod ? mod.file.ast.decls.map((d) => item(d.name.name, KIND_OF[d.kind], headerOf(mod.file, d))) : [];
  }
  if (kind === 'Plan' && frames.length === 1) {
    if (prevName === 'Colon') {
      const key = fieldKey()!;
      if (key === 'model') return declItems(['model']);
      if (key === 'on') return declItems(['hardware']);
      return keywords(PLAN_VALUES[key] ?? []);
    }
    return PLAN_FIELDS.map((f) => item(f, CompletionItemKind.Property, 'plan field', `${f}: `));
  }
  if (kind === 'Hardware' && frames.length === 1) {
    if (prevName === 'Colon') {
      const key = fieldKey()!;
      return declItems(['component'], ['gpu', 'host', 'ssd', 'node', 'network'].includes(key) ? key : 'link');
    }
    return keywords(HW_ITEMS);
  }
  if (
    kind === 'Hardware' ||
    (decl && (decl.tokenType.name === 'Link' || PART_KINDS.includes(decl.image)) && kind !== 'Plan')
  ) {
    const part = kind === 'Hardware' ? tokens[tokens.indexOf(top) - 1]?.image : decl!.image;
    const fields = PART_FIELDS[part ?? ''];
    if (fields && prevName !== 'Colon')
      return Object.keys(fields).map((f) => item(f, CompletionItemKind.Property, `${part} field`, `${f}: `));
    return [];
  }
  if (kind === 'Plan') {
    if (top.tokenType.name === 'LParen') return callItems(tokens, top, scope, prevName);
    // an item of a list value: `fuse: [elementwise, ‸]`
    const listItem = top.tokenType.name === 'LBracket' && (prevName === 'LBracket' || prevName === 'Comma');
    return prevName === 'Colon' || listItem ? keywords(PLAN_VALUES[fieldKey() ?? ''] ?? []) : [];
  }

  // a layer, model or graph body
  const names = localNames(tokens, decl);
  const values = [
    ...names.map((n) => item(n, CompletionItemKind.Variable)),
    ...declItems(['layer', 'model', 'graph', 'component']),
    ...Object.entries(BUILTINS).map(([n, b]) => item(n, CompletionItemKind.Function, b.doc)),
  ];
  if (prevName === 'Equals' && paramStatement(tokens))
    return [...Object.entries(INITS).map(([n, b]) => item(n, CompletionItemKind.Constructor, b.doc)), ...values];
  if (top.tokenType.name === 'LParen') return [...callItems(tokens, top, scope, prevName), ...values];
  if (prevName === 'Colon')
    return [...DTYPES.map((d) => item(d, CompletionItemKind.TypeParameter, 'dtype')), ...values];
  if (top.tokenType.name === 'LBrace' && (kind === 'Layer' || kind === 'Model'))
    return [...keywords(STMT_KEYWORDS), ...values];
  return values;
}

/** Named arguments of the layer, model or builtin being called, when the cursor is where an argument starts. */
function callItems(tokens: IToken[], open: IToken, scope: DeclRef[], prevName: string | undefined): CompletionItem[] {
  if (prevName !== 'LParen' && prevName !== 'Comma') return [];
  const callee = tokens[tokens.indexOf(open) - 1];
  if (callee?.tokenType.name !== 'Identifier') return [];
  // the arguments before the cursor: positional ones take the first parameters, named ones theirs
  const given = new Set<string>();
  let positional = 0;
  let depth = 0;
  let argStart = tokens.indexOf(open) + 1;
  for (let i = argStart; i < tokens.length; i++) {
    const n = tokens[i]!.tokenType.name;
    if (n === 'LParen' || n === 'LBracket' || n === 'LBrace') depth++;
    else if (n === 'RParen' || n === 'RBracket' || n === 'RBrace') depth--;
    else if (n === 'Comma' && depth === 0) {
      if (tokens[argStart]?.tokenType.name === 'Identifier' && tokens[argStart + 1]?.tokenType.name === 'Colon')
        given.add(tokens[argStart]!.image);
      else positional++;
      argStart = i + 1;
    }
  }
  const r = scope.find((x) => x.decl.name.name === callee.image);
  const d = r?.decl;
  const params =
    r && d && (d.kind === 'layer' || d.kind === 'model')
      ? d.params.map((p) => ({ name: p.name.name, detail: sourceOf(r.file, p.span) }))
      : ((BUILTINS[callee.image] ?? INITS[callee.image])?.params.map((p) => ({ name: p.name, detail: p.kind })) ?? []);
  return params
    .filter((p, k) => k >= positional && !given.has(p.name))
    .map((p) => ({
      ...item(`${p.name}:`, CompletionItemKind.Field, p.detail, `${p.name}: `),
      filterText: p.name,
      sortText: `0${p.name}`,
    }));
}

/** Whether the tokens end in `param name: type =`. */
function paramStatement(tokens: IToken[]): boolean {
  for (let i = tokens.length - 1; i >= 0; i--) {
    const n = tokens[i]!.tokenType.name;
    if (n === 'Param') return true;
    if (n === 'Let' || n === 'Input' || n === 'LBrace' || n === 'RBrace') return false;
  }
  return false;
}

/** The names a body has defined before the cursor: its parameters and its input, param, let and repeat variables. */
function localNames(tokens: IToken[], decl: IToken | undefined): string[] {
  const start = decl ? tokens.indexOf(decl) : 0;
  const body = tokens.findIndex((x, k) => k > start && x.tokenType.name === 'LBrace');
  const bodyStart = body < 0 ? tokens.length : body;
  const out = new Set<string>();
  let depth = 0;
  for (let i = start; i < tokens.length; i++) {
    const t = tokens[i]!;
    const n = t.tokenType.name;
    if (n === 'LParen' || n === 'LBracket' || n === 'LBrace') depth++;
    else if (n === 'RParen' || n === 'RBracket' || n === 'RBrace') depth--;
    const next = tokens[i + 1];
    if (next?.tokenType.name !== 'Identifier') continue;
    if (n === 'Let' || n === 'Input' || n === 'Param' || n === 'As') out.add(next.image);
    if (depth === 1 && (n === 'LParen' || n === 'Comma') && tokens[i + 2]?.tokenType.name === 'Colon' && i < bodyStart)
      out.add(next.image);
  }
  return [...out];
}

function inCommentOrString(before: string, comments: IToken[]): boolean {
  const last = comments.at(-1);
  if (last?.tokenType.name === 'LineComment' && last.endOffset! + 1 >= before.length) return true;
  const open = before.lastIndexOf('/*');
  if (open > before.lastIndexOf('*/') && !before.slice(before.lastIndexOf('\n', open) + 1, open).includes('//'))
    return true;
  const line = before.slice(before.lastIndexOf('\n') + 1).replace(/\/\/.*$/, '');
  return (line.match(/"/g)?.length ?? 0) % 2 === 1;
}
