import type * as A from '../../grammar/ast.ts';
import type { Span } from '../../grammar/diagnostics.ts';
import { isFreeSize, resolveName, Scope } from '../sema/scope.ts';
import { resolveImport, type Program, type SourceFile } from '../sema/program.ts';

export type DefKind =
  | 'layer'
  | 'model'
  | 'graph'
  | 'hardware'
  | 'plan'
  | 'part'
  | 'param'
  | 'input'
  | 'weight'
  | 'let'
  | 'loop'
  | 'item';

/** A name where it is declared. */
export interface Def {
  name: string;
  kind: DefKind;
  file: SourceFile;
  /** The name's own span. */
  span: Span;
  /** The whole declaration (a top-level one, a parameter, a statement, a graph item). */
  node: A.Decl | A.ParamDecl | A.Stmt | A.GraphItem | { span: Span };
  /** The top-level declaration it belongs to (itself for one). */
  top: A.Decl;
}

/** A name where it is used: what it names (`def`), a builtin op or initialiser, or an imported file. */
export interface Ref {
  name: string;
  file: SourceFile;
  span: Span;
  def?: Def;
  builtin?: string;
  module?: SourceFile;
}

export interface SymbolIndex {
  defs: Def[];
  refs: Ref[];
  /** The definition of each top-level declaration. */
  declDefs: Map<A.Decl, Def>;
}

/**
 * Every definition and use of a name in a program's files, resolved by the elaborator's resolver
 * (sema/scope.ts: a body's names in order, then the file's declarations and imports, then builtin
 * ops), with scopes of definitions where the elaborator keeps values. Named arguments point at the
 * parameter of the layer or model they are passed to. Works on files with syntax errors (on what
 * the parser recovered).
 */
export function indexProgram(program: Program): SymbolIndex {
  const defs: Def[] = [];
  const refs: Ref[] = [];
  const declDefs = new Map<A.Decl, Def>();
  const paramDefs = new Map<A.ParamDecl, Def>();
  const def = (d: Def) => (defs.push(d), d);
  const valid = (id: A.Ident) => id.name !== '<missing>';

  for (const file of program.files.values())
    for (const d of file.ast.decls) {
      if (!valid(d.name)) continue;
      const kind: DefKind = d.kind === 'component' ? 'part' : d.kind;
      declDefs.set(d, def({ name: d.name.name, kind, file, span: d.name.span, node: d, top: d }));
      if (d.kind === 'layer' || d.kind === 'model')
        for (const p of d.params)
          if (valid(p.name))
            paramDefs.set(p, def({ name: p.name.name, kind: 'param', file, span: p.name.span, node: p, top: d }));
    }

  for (const file of program.files.values()) {
    const ref = (name: string, span: Span, scope: Scope<Def> | undefined): Def | undefined => {
      const r = resolveName(name, scope, file, program);
      const d = r.kind === 'local' ? r.value : r.kind === 'decl' ? declDefs.get(r.ref.decl) : undefined;
      refs.push(
        d
          ? { name, file, span, def: d }
          : r.kind === 'builtin'
            ? { name, file, span, builtin: name }
            : { name, file, span },
      );
      return d;
    };
    const expr = (e: A.Expr | undefined, scope: Scope<Def> | undefined): void => {
      if (!e) return;
      switch (e.kind) {
        case 'name':
          ref(e.name, e.span, scope);
          return;
        case 'binary':
          return (expr(e.left, scope), expr(e.right, scope));
        case 'neg':
          return expr(e.operand, scope);
        case 'call': {
          const callee =
            e.callee.kind === 'name' ? ref(e.callee.name, e.callee.span, scope) : (expr(e.callee, scope), undefined);
          const params =
            callee && (callee.kind === 'layer' || callee.kind === 'model')
              ? (callee.node as A.LayerDecl | A.ModelDecl).params
              : [];
          for (const a of e.args) {
            if (a.name && valid(a.name)) {
              const p = params.find((q) => q.name.name === a.name!.name);
              const pd = p && paramDefs.get(p);
              refs.push(
                pd
                  ? { name: a.name.name, file, span: a.name.span, def: pd }
                  : { name: a.name.name, file, span: a.name.span },
              );
            }
            expr(a.value, scope);
          }
          return;
        }
        case 'index':
          expr(e.target, scope);
          for (const i of e.items) i.kind === 'slice' ? (expr(i.start, scope), expr(i.end, scope)) : expr(i, scope);
          return;
        case 'member':
          return expr(e.target, scope);
        case 'list':
          return e.items.forEach((i) => expr(i, scope));
        case 'object':
          return fields(e.fields, scope);
        default:
          return;
      }
    };
    const fields = (fs: A.Field[] | undefined, scope: Scope<Def> | undefined) =>
      fs?.forEach((f) => (expr(f.value, scope), fields(f.body, scope)));
    const type = (t: A.TypeRef | A.Expr | undefined, scope: Scope<Def> | undefined) => {
      if (!t) return;
      if (t.kind === 'tensorType') t.dims.forEach((d) => d.kind !== 'ellipsis' && dim(d, scope));
      else if (t.kind === 'namedType') return;
      else expr(t, scope);
    };
    // a size such as `B` in `f32[B, T]` names a parameter when there is one, else it is symbolic
    const dim = (d: A.Expr, scope: Scope<Def> | undefined) => {
      if (d.kind === 'name' && isFreeSize(d.name, scope, file, program)) return;
      expr(d, scope);
    };
    const local = (scope: Scope<Def>, id: A.Ident, kind: DefKind, node: Def['node'], top: A.Decl) => {
      if (!valid(id)) return;
      const d = def({ name: id.name, kind, file, span: id.span, node, top });
      scope.vars.set(id.name, d);
    };
    const stmts = (ss: A.Stmt[], scope: Scope<Def>, top: A.Decl) => {
      for (const s of ss)
        switch (s.kind) {
          case 'input':
            type(s.type, scope);
            local(scope, s.name, 'input', s, top);
            break;
          case 'param':
            type(s.type, scope);
            expr(s.init, scope);
            local(scope, s.name, 'weight', s, top);
            break;
          case 'let':
            expr(s.value, scope);
            local(scope, s.name, 'let', s, top);
            break;
          case 'assign':
            expr(s.value, scope);
            ref(s.name.name, s.name.span, scope);
            break;
          case 'output':
            expr(s.value, scope);
            break;
          case 'return':
            expr(s.value, scope);
            break;
          case 'repeat': {
            expr(s.count, scope);
            const inner = new Scope<Def>(scope);
            local(inner, s.var, 'loop', s, top);
            stmts(s.body, inner, top);
            break;
          }
        }
    };

    for (const imp of file.ast.imports) {
      const target = resolveImport(imp.from.value, file, program.root);
      const module = 'abs' in target ? program.files.get(target.abs) : undefined;
      if (module) refs.push({ name: imp.from.value, file, span: imp.from.span, module });
      for (const n of imp.names) if (valid(n)) ref(n.name, n.span, undefined);
    }
    for (const d of file.ast.decls) {
      switch (d.kind) {
        case 'layer':
        case 'model': {
          const scope = new Scope<Def>();
          for (const p of d.params) {
            type(p.type, scope);
            expr(p.default, scope);
            const pd = paramDefs.get(p);
            if (pd) scope.vars.set(pd.name, pd);
          }
          if (d.kind === 'layer') type(d.returns, scope);
          if (d.kind === 'model' && d.on) {
            ref(d.on.graph.name, d.on.graph.span, undefined);
            local(scope, d.on.name, 'param', { span: d.on.name.span }, d);
          }
          stmts(d.body, scope, d);
          break;
        }
        case 'graph':
          for (const g of d.items) {
            if (valid(g.name)) def({ name: g.name.name, kind: 'item', file, span: g.name.span, node: g, top: d });
            expr(g.value, undefined);
            expr(g.from, undefined);
          }
          break;
        case 'hardware':
          for (const h of d.items) {
            expr(h.count, undefined);
            expr(h.value, undefined);
            fields(h.fields, undefined);
          }
          break;
        case 'component':
        case 'plan':
          fields(d.fields, undefined);
          break;
      }
    }
  }
  return { defs, refs, declDefs };
}

/**
 * Whether a 1-based (line, column) position falls in a span (its end included, so a cursor just after a name counts).
 */
function spanHas(s: Span, line: number, column: number): boolean {
  if (line < s.line || line > s.endLine) return false;
  if (line === s.line && column < s.column) return false;
  if (line === s.endLine && column > s.endColumn) return false;
  return true;
}

/** The definition or use of a name at a position of a file. */
export function symbolAt(
  index: SymbolIndex,
  file: SourceFile,
  line: number,
  column: number,
): { def?: Def; ref?: Ref } | undefined {
  const ref = index.refs.find((r) => r.file === file && spanHas(r.span, line, column));
  if (ref) return { ref, def: ref.def };
  const def = index.defs.find((d) => d.file === file && spanHas(d.span, line, column));
  return def && { def };
}
