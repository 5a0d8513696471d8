import type { Hover, Position } from 'vscode-languageserver';
import type * as A from '../../grammar/ast.ts';
import { BUILTINS, INITS, type ArgSpec } from '../sema/builtins.ts';
import { formatValue } from './format-value.ts';
import { fromPosition, toRange } from './positions.ts';
import { docAbove, headerOf, sourceOf } from './source-text.ts';
import { symbolAt, type Def } from './symbols.ts';
import type { Workspace } from './workspace.ts';

const code = (s: string) => `\`\`\`flex\n${s}\n\`\`\``;
const VALUE_KINDS = new Set(['param', 'input', 'weight', 'let', 'loop']);
const KEYWORD = { input: 'input', weight: 'param', let: 'let', loop: 'repeat … as', param: '(parameter)' } as Record<
  string,
  string
>;

/**
 * Hover: a value's tensor type (dtype and shape, elaborated with the model's defaults or a layer's
 * symbolic sizes, at that point of the body), a layer's or model's signature, a hardware part's
 * figures, a builtin op's signature, each with the comment above its declaration.
 */
export function hover(ws: Workspace, path: string, pos: Position): Hover | null {
  const a = ws.analyze(path);
  if (!a) return null;
  const { line, column } = fromPosition(pos);
  const hit = symbolAt(a.index, a.file, line, column);
  if (!hit) return null;
  const span = hit.ref?.span ?? hit.def!.span;
  const range = toRange(span);
  if (hit.ref?.module) {
    const names = hit.ref.module.ast.decls.map((d) => `\`${d.name.name}\``);
    return {
      range,
      contents: { kind: 'markdown', value: `module \`${hit.ref.module.path}\`\n\ndeclares ${names.join(', ')}` },
    };
  }
  if (hit.ref?.builtin) {
    const name = hit.ref.builtin;
    const b = BUILTINS[name] ?? INITS[name]!;
    const what = name in BUILTINS ? 'builtin op' : 'initialiser';
    return {
      range,
      contents: {
        kind: 'markdown',
        value: `${code(`${name}(${b.params.map(argText).join(', ')})`)}\n\n${what}: ${b.doc}`,
      },
    };
  }
  const def = hit.def;
  if (!def) return null;
  return { range, contents: { kind: 'markdown', value: describeDef(ws, a, def, span) } };
}

function argText(p: ArgSpec): string {
  const dflt = p.default ? ` = ${formatValue(p.default)}` : '';
  return `${p.name}: ${p.kind}${dflt}`;
}

function describeDef(
  ws: Workspace,
  a: NonNullable<ReturnType<Workspace['analyze']>>,
  def: Def,
  at: A.Ident['span'],
): string {
  const doc = (line: number) => {
    const d = docAbove(def.file, line);
    return d ? `\n\n${d}` : '';
  };
  if (
    def.kind === 'layer' ||
    def.kind === 'model' ||
    def.kind === 'graph' ||
    def.kind === 'hardware' ||
    def.kind === 'plan'
  ) {
    const d = def.node as A.Decl;
    return (
      code(headerOf(def.file, d)) + doc(d.span.line) + (def.file !== a.file ? `\n\nfrom \`${def.file.path}\`` : '')
    );
  }
  if (def.kind === 'part') {
    const d = def.node as A.ComponentDecl;
    const fields = d.fields.map((f) => `${f.key.name}: ${sourceOf(def.file, f.value.span)}`);
    const from = def.file !== a.file ? `\n\nfrom \`${def.file.path}\`` : '';
    return `${code(`${d.what.name} ${d.name.name}`)}\n\n${fields.join(' · ')}${doc(d.span.line)}${from}`;
  }
  if (def.kind === 'item') return code(sourceOf(def.file, (def.node as A.GraphItem).span));
  if (!VALUE_KINDS.has(def.kind)) return code(def.name);
  const values = ws.valuesIn(a, def.top, def.file);
  const v =
    (at.file === def.file.path ? values.get(`${at.line}:${at.column}`) : undefined) ??
    values.get(`${def.span.line}:${def.span.column}`);
  const declared =
    def.kind === 'param' && 'type' in def.node ? sourceOf(def.file, (def.node as A.ParamDecl).span) : undefined;
  const typeText = v && v.kind !== 'poison' ? formatValue(v) : undefined;
  if (declared)
    return (
      code(`(parameter) ${declared}`) + (typeText && !declared.includes(typeText) ? `\n\nhere: \`${typeText}\`` : '')
    );
  return code(`${KEYWORD[def.kind]} ${def.name}${typeText ? `: ${typeText}` : ''}`);
}
