import type { CstElement, CstNode, IToken } from 'chevrotain';
import type * as A from './ast.ts';
import type { Span } from './diagnostics.ts';
import { decodeString } from './strings.ts';

/** Turns the CST into the AST. Tolerates the holes that error recovery leaves. */
export function buildAst(cst: CstNode, path: string): A.FlexFile {
  const b = new AstBuilder(path);
  return b.file(cst);
}

const MISSING = '<missing>';

class AstBuilder {
  constructor(private readonly path: string) {}

  private tokSpan(t: IToken): Span {
    return {
      file: this.path,
      line: t.startLine ?? 1,
      column: t.startColumn ?? 1,
      endLine: t.endLine ?? t.startLine ?? 1,
      endColumn: (t.endColumn ?? t.startColumn ?? 1) + 1,
    };
  }

  private span(n: CstNode | undefined): Span {
    const l = n?.location;
    if (!l || Number.isNaN(l.startLine) || l.startLine === undefined)
      return { file: this.path, line: 1, column: 1, endLine: 1, endColumn: 2 };
    return {
      file: this.path,
      line: l.startLine,
      column: l.startColumn ?? 1,
      endLine: l.endLine ?? l.startLine,
      endColumn: (l.endColumn ?? l.startColumn ?? 1) + 1,
    };
  }

  private nodes(n: CstNode, key: string): CstNode[] {
    return (n.children[key] as CstNode[] | undefined) ?? [];
  }
  private toks(n: CstNode, key: string): IToken[] {
    return ((n.children[key] as IToken[] | undefined) ?? []).filter(
      (t) => !Number.isNaN(t.startOffset) && !t.isInsertedInRecovery,
    );
  }
  private ident(t: IToken | undefined, fallback: Span): A.Ident {
    return t ? { name: t.image, span: this.tokSpan(t) } : { name: MISSING, span: fallback };
  }

  file(n: CstNode): A.FlexFile {
    const imports: A.ImportDecl[] = [];
    const decls: A.Decl[] = [];
    for (const d of this.nodes(n, 'decl')) {
      const [key, child] = Object.entries(d.children)[0] ?? [];
      const c = (child as CstNode[] | undefined)?.[0];
      if (!c) continue;
      switch (key) {
        case 'importDecl':
          imports.push(this.importDecl(c));
          break;
        case 'layerDecl':
          decls.push(this.layerDecl(c));
          break;
        case 'modelDecl':
          decls.push(this.modelDecl(c));
          break;
        case 'graphDecl':
          decls.push(this.graphDecl(c));
          break;
        case 'hardwareDecl':
          decls.push(this.hardwareDecl(c));
          break;
        case 'planDecl':
          decls.push({
            kind: 'plan',
            name: this.ident(this.toks(c, 'Identifier')[0], this.span(c)),
            fields: this.fieldBlock(this.nodes(c, 'fieldBlock')[0]),
            span: this.span(c),
          });
          break;
        case 'componentDecl': {
          const ids = this.toks(c, 'Identifier');
          const link = this.toks(c, 'Link')[0];
          const what = link ?? ids[0];
          const name = link ? ids[0] : ids[1];
          decls.push({
            kind: 'component',
            what: this.ident(what, this.span(c)),
            name: this.ident(name, this.span(c)),
            fields: this.fieldBlock(this.nodes(c, 'fieldBlock')[0]),
            span: this.span(c),
          });
          break;
        }
      }
    }
    return { path: this.path, imports, decls, span: this.span(n) };
  }

  importDecl(n: CstNode): A.ImportDecl {
    const s = this.toks(n, 'StringLit')[0];
    return {
      kind: 'import',
      names: this.toks(n, 'Identifier').map((t) => this.ident(t, this.span(n))),
      from: s ? { value: unquote(s.image), span: this.tokSpan(s) } : { value: MISSING, span: this.span(n) },
      span: this.span(n),
    };
  }

  layerDecl(n: CstNode): A.LayerDecl {
    const ret = this.nodes(n, 'typeRef')[0];
    const decl: A.LayerDecl = {
      kind: 'layer',
      name: this.ident(this.toks(n, 'Identifier')[0], this.span(n)),
      params: this.paramList(this.nodes(n, 'paramList')[0]),
      body: this.block(this.nodes(n, 'block')[0]),
      span: this.span(n),
    };
    if (ret) decl.returns = this.typeRef(ret);
    return decl;
  }

  modelDecl(n: CstNode): A.ModelDecl {
    const ids = this.toks(n, 'Identifier');
    const decl: A.ModelDecl = {
      kind: 'model',
      name: this.ident(ids[0], this.span(n)),
      params: this.paramList(this.nodes(n, 'paramList')[0]),
      body: this.block(this.nodes(n, 'block')[0]),
      span: this.span(n),
    };
    if (this.toks(n, 'On').length)
      decl.on = { name: this.ident(ids[1], this.span(n)), graph: this.ident(ids[2], this.span(n)) };
    return decl;
  }

  paramList(n: CstNode | undefined): A.ParamDecl[] {
    if (!n) return [];
    return this.nodes(n, 'paramDecl').map((p) => {
      const tt = this.nodes(p, 'tensorType')[0];
      const exprs = this.nodes(p, 'expr');
      const type = tt ? this.tensorType(tt) : this.expr(exprs[0]);
      const dflt = tt ? exprs[0] : exprs[1];
      const decl: A.ParamDecl = {
        name: this.ident(this.toks(p, 'Identifier')[0], this.span(p)),
        type,
        span: this.span(p),
      };
      if (dflt) decl.default = this.expr(dflt);
      return decl;
    });
  }

  typeRef(n: CstNode): A.TypeRef {
    const tt = this.nodes(n, 'tensorType')[0];
    if (tt) return this.tensorType(tt);
    return { kind: 'namedType', name: this.ident(this.toks(n, 'Identifier')[0], this.span(n)), span: this.span(n) };
  }

  tensorType(n: CstNode): A.TensorType {
    const dims: A.TensorType['dims'] = [];
    const items: { off: number; el: A.TensorType['dims'][number] }[] = [];
    for (const t of this.toks(n, 'Ellipsis'))
      items.push({ off: t.startOffset, el: { kind: 'ellipsis', span: this.tokSpan(t) } });
    for (const e of this.nodes(n, 'expr')) items.push({ off: e.location?.startOffset ?? 0, el: this.expr(e) });
    items.sort((a, b) => a.off - b.off).forEach((i) => dims.push(i.el));
    return { kind: 'tensorType', dtype: this.toks(n, 'DType')[0]?.image ?? MISSING, dims, span: this.span(n) };
  }

  block(n: CstNode | undefined): A.Stmt[] {
    if (!n) return [];
    return this.nodes(n, 'stmt').flatMap((s) => {
      const st = this.stmt(s);
      return st ? [st] : [];
    });
  }

  stmt(n: CstNode): A.Stmt | undefined {
    const [key, child] = Object.entries(n.children)[0] ?? [];
    const c = (child as CstNode[] | undefined)?.[0];
    if (!c) return undefined;
    const span = this.span(c);
    const name = this.ident(this.toks(c, 'Identifier')[0], span);
    const expr = () => this.expr(this.nodes(c, 'expr')[0]);
    switch (key) {
      case 'inputStmt':
        return { kind: 'input', name, type: this.typeRefOr(this.nodes(c, 'typeRef')[0], span), span };
      case 'paramStmt': {
        const st: A.Stmt = { kind: 'param', name, type: this.typeRefOr(this.nodes(c, 'typeRef')[0], span), span };
        if (this.nodes(c, 'expr')[0]) st.init = expr();
        return st;
      }
      case 'letStmt':
        return { kind: 'let', name, value: expr(), span };
      case 'assignStmt':
        return { kind: 'assign', name, value: expr(), span };
      case 'repeatStmt':
        return { kind: 'repeat', count: expr(), var: name, body: this.block(this.nodes(c, 'block')[0]), span };
      case 'outputStmt':
        return { kind: 'output', name, value: expr(), span };
      case 'returnStmt':
        return { kind: 'return', value: expr(), span };
    }
    return undefined;
  }

  private typeRefOr(n: CstNode | undefined, span: Span): A.TypeRef {
    return n ? this.typeRef(n) : { kind: 'namedType', name: { name: MISSING, span }, span };
  }

  graphDecl(n: CstNode): A.GraphDecl {
    return {
      kind: 'graph',
      name: this.ident(this.toks(n, 'Identifier')[0], this.span(n)),
      items: this.nodes(n, 'graphItem').map((it) => {
        const span = this.span(it);
        const item: A.GraphItem = { name: this.ident(this.toks(it, 'Identifier')[0], span), span };
        const tt = this.nodes(it, 'tensorType')[0];
        if (tt) item.type = this.tensorType(tt);
        const exprs = this.nodes(it, 'expr');
        const hasColonExpr = !tt && this.toks(it, 'Colon').length > 0;
        if (hasColonExpr && exprs[0]) item.value = this.expr(exprs[0]);
        const fromExpr = hasColonExpr ? exprs[1] : exprs[0];
        if (this.toks(it, 'From').length && fromExpr) item.from = this.expr(fromExpr);
        return item;
      }),
      span: this.span(n),
    };
  }

  hardwareDecl(n: CstNode): A.HardwareDecl {
    return {
      kind: 'hardware',
      name: this.ident(this.toks(n, 'Identifier')[0], this.span(n)),
      items: this.nodes(n, 'hwItem').map((it) => {
        const span = this.span(it);
        const ids = this.toks(it, 'Identifier');
        const link = this.toks(it, 'Link')[0];
        const item: A.HwItem = link
          ? { what: this.ident(link, span), ends: [this.ident(ids[0], span), this.ident(ids[1], span)], span }
          : { what: this.ident(ids[0], span), span };
        const exprs = this.nodes(it, 'expr');
        if (!link && ids.length > 1) item.count = this.expr(exprs.shift());
        if (exprs[0]) item.value = this.expr(exprs[0]);
        const fb = this.nodes(it, 'fieldBlock')[0];
        if (fb) item.fields = this.fieldBlock(fb);
        return item;
      }),
      span: this.span(n),
    };
  }

  fieldBlock(n: CstNode | undefined): A.Field[] {
    if (!n) return [];
    return this.nodes(n, 'field').map((f) => {
      const span = this.span(f);
      const keyTok = this.toks(f, 'Identifier')[0] ?? this.toks(f, 'StringLit')[0];
      const key = keyTok
        ? {
            name: keyTok.tokenType.name === 'StringLit' ? unquote(keyTok.image) : keyTok.image,
            span: this.tokSpan(keyTok),
          }
        : { name: MISSING, span };
      const field: A.Field = { key, value: this.expr(this.nodes(f, 'expr')[0]), span };
      const body = this.nodes(f, 'fieldBlock')[0];
      if (body) field.body = this.fieldBlock(body);
      return field;
    });
  }

  expr(n: CstNode | undefined): A.Expr {
    if (!n)
      return { kind: 'name', name: MISSING, span: { file: this.path, line: 1, column: 1, endLine: 1, endColumn: 2 } };
    return this.binaryChain(n, 'mulExpr', ['Plus', 'Minus'], (m) =>
      this.binaryChain(m, 'unaryExpr', ['Star', 'Slash', 'At'], (u) => this.unary(u)),
    );
  }

  private binaryChain(n: CstNode, childKey: string, opKeys: string[], sub: (c: CstNode) => A.Expr): A.Expr {
    const operands = this.nodes(n, childKey);
    const ops = opKeys.flatMap((k) => this.toks(n, k)).sort((a, b) => a.startOffset - b.startOffset);
    let acc = sub(operands[0]!);
    for (let i = 1; i < operands.length; i++) {
      const right = sub(operands[i]!);
      const op = (ops[i - 1]?.image ?? '+') as '+' | '-' | '*' | '/' | '@';
      acc = { kind: 'binary', op, left: acc, right, span: join(acc.span, right.span) };
    }
    return acc;
  }

  private unary(n: CstNode): A.Expr {
    const inner = this.nodes(n, 'unaryExpr')[0];
    if (inner) return { kind: 'neg', operand: this.unary(inner), span: this.span(n) };
    const pf = this.nodes(n, 'postfixExpr')[0];
    return pf ? this.postfix(pf) : this.expr(undefined);
  }

  private postfix(n: CstNode): A.Expr {
    let acc = this.primary(this.nodes(n, 'primary')[0]!);
    const suffixes: { off: number; el: CstElement; kind: string }[] = [];
    for (const c of this.nodes(n, 'callSuffix')) suffixes.push({ off: c.location!.startOffset, el: c, kind: 'call' });
    for (const c of this.nodes(n, 'indexSuffix')) suffixes.push({ off: c.location!.startOffset, el: c, kind: 'index' });
    const ids = this.toks(n, 'Identifier');
    this.toks(n, 'Dot').forEach((d, i) => suffixes.push({ off: d.startOffset, el: ids[i] ?? d, kind: 'member' }));
    suffixes.sort((a, b) => a.off - b.off);
    for (const s of suffixes) {
      if (s.kind === 'call') {
        const c = s.el as CstNode;
        const args = this.nodes(c, 'arg').map((a): A.Arg => {
          const name = this.toks(a, 'Identifier')[0];
          const arg: A.Arg = { value: this.expr(this.nodes(a, 'expr')[0]), span: this.span(a) };
          if (name) arg.name = this.ident(name, this.span(a));
          return arg;
        });
        acc = { kind: 'call', callee: acc, args, span: join(acc.span, this.span(c)) };
      } else if (s.kind === 'index') {
        const c = s.el as CstNode;
        const items = this.nodes(c, 'indexItem').map((it): A.Expr | A.SliceItem => {
          const exprs = this.nodes(it, 'expr');
          if (!this.toks(it, 'Colon').length) return this.expr(exprs[0]);
          const colon = this.toks(it, 'Colon')[0]!;
          const sl: A.SliceItem = { kind: 'slice', span: this.span(it) };
          for (const e of exprs) {
            if ((e.location?.startOffset ?? 0) < colon.startOffset) sl.start = this.expr(e);
            else sl.end = this.expr(e);
          }
          return sl;
        });
        acc = { kind: 'index', target: acc, items, span: join(acc.span, this.span(c)) };
      } else {
        const t = s.el as IToken;
        const name = this.ident(t.tokenType?.name === 'Identifier' ? t : undefined, this.tokSpan(t));
        acc = { kind: 'member', target: acc, name, span: join(acc.span, name.span) };
      }
    }
    return acc;
  }

  private primary(n: CstNode): A.Expr {
    const span = this.span(n);
    const num = this.toks(n, 'NumberLit')[0];
    if (num) {
      const e: A.Expr = { kind: 'number', value: Number(num.image), text: num.image, span };
      const u = this.nodes(n, 'unit')[0];
      if (u)
        e.unit = {
          name: this.toks(u, 'Identifier')
            .map((t) => t.image)
            .join('/'),
          span: this.span(u),
        };
      return e;
    }
    const str = this.toks(n, 'StringLit')[0];
    if (str) return { kind: 'string', value: unquote(str.image), span };
    if (this.toks(n, 'True').length) return { kind: 'bool', value: true, span };
    if (this.toks(n, 'False').length) return { kind: 'bool', value: false, span };
    const id = this.toks(n, 'Identifier')[0];
    if (id) return { kind: 'name', name: id.image, span };
    const fb = this.nodes(n, 'fieldBlock')[0];
    if (fb) return { kind: 'object', fields: this.fieldBlock(fb), span };
    if (this.toks(n, 'LBracket').length)
      return { kind: 'list', items: this.nodes(n, 'expr').map((e) => this.expr(e)), span };
    return this.expr(this.nodes(n, 'expr')[0]);
  }
}

function join(a: Span, b: Span): Span {
  return { file: a.file, line: a.line, column: a.column, endLine: b.endLine, endColumn: b.endColumn };
}

/** A literal's value; an invalid one (reported when the file was parsed) reads as missing. */
function unquote(s: string): string {
  const d = decodeString(s);
  return 'value' in d ? d.value : MISSING;
}
