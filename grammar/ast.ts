import type { Span } from './diagnostics.ts';

export interface Ident {
  name: string;
  span: Span;
}

export interface FlexFile {
  path: string;
  imports: ImportDecl[];
  decls: Decl[];
  span: Span;
}

export interface ImportDecl {
  kind: 'import';
  names: Ident[];
  from: { value: string; span: Span };
  span: Span;
}

export type Decl = LayerDecl | ModelDecl | GraphDecl | HardwareDecl | ComponentDecl | PlanDecl;

export interface ParamDecl {
  name: Ident;
  /** A tensor type or an expression: `int`, `Graph` and other named types are `Name` expressions here. */
  type: TensorType | Expr;
  default?: Expr;
  span: Span;
}

export interface LayerDecl {
  kind: 'layer';
  name: Ident;
  params: ParamDecl[];
  returns?: TypeRef;
  body: Stmt[];
  span: Span;
}

export interface ModelDecl {
  kind: 'model';
  name: Ident;
  params: ParamDecl[];
  on?: { name: Ident; graph: Ident };
  body: Stmt[];
  span: Span;
}

export interface GraphItem {
  name: Ident;
  type?: TensorType;
  value?: Expr;
  from?: Expr;
  span: Span;
}

export interface GraphDecl {
  kind: 'graph';
  name: Ident;
  items: GraphItem[];
  span: Span;
}

export interface Field {
  key: Ident;
  value: Expr;
  body?: Field[];
  span: Span;
}

export interface HwItem {
  /** `gpu`, `host`, `ssd`, `network`, or `link`. */
  what: Ident;
  count?: Expr;
  ends?: [Ident, Ident];
  value?: Expr;
  fields?: Field[];
  span: Span;
}

export interface HardwareDecl {
  kind: 'hardware';
  name: Ident;
  items: HwItem[];
  span: Span;
}

/** A named hardware part: `gpu rtx4090 { ... }`, `link pcie4 { ... }`. */
export interface ComponentDecl {
  kind: 'component';
  what: Ident;
  name: Ident;
  fields: Field[];
  span: Span;
}

export interface PlanDecl {
  kind: 'plan';
  name: Ident;
  fields: Field[];
  span: Span;
}

export type TypeRef = TensorType | NamedType;

export interface TensorType {
  kind: 'tensorType';
  dtype: string;
  dims: (Expr | { kind: 'ellipsis'; span: Span })[];
  span: Span;
}

export interface NamedType {
  kind: 'namedType';
  name: Ident;
  span: Span;
}

export type Stmt =
  | { kind: 'input'; name: Ident; type: TypeRef; span: Span }
  | { kind: 'param'; name: Ident; type: TypeRef; init?: Expr; span: Span }
  | { kind: 'let'; name: Ident; value: Expr; span: Span }
  | { kind: 'assign'; name: Ident; value: Expr; span: Span }
  | { kind: 'repeat'; count: Expr; var: Ident; body: Stmt[]; span: Span }
  | { kind: 'output'; name: Ident; value: Expr; span: Span }
  | { kind: 'return'; value: Expr; span: Span };

export interface Arg {
  name?: Ident;
  value: Expr;
  span: Span;
}

export interface SliceItem {
  kind: 'slice';
  start?: Expr;
  end?: Expr;
  span: Span;
}

export type Expr =
  | { kind: 'number'; value: number; text: string; unit?: Ident; span: Span }
  | { kind: 'string'; value: string; span: Span }
  | { kind: 'bool'; value: boolean; span: Span }
  | { kind: 'name'; name: string; span: Span }
  | { kind: 'binary'; op: '+' | '-' | '*' | '/' | '@'; left: Expr; right: Expr; span: Span }
  | { kind: 'neg'; operand: Expr; span: Span }
  | { kind: 'call'; callee: Expr; args: Arg[]; span: Span }
  | { kind: 'index'; target: Expr; items: (Expr | SliceItem)[]; span: Span }
  | { kind: 'member'; target: Expr; name: Ident; span: Span }
  | { kind: 'list'; items: Expr[]; span: Span }
  | { kind: 'object'; fields: Field[]; span: Span };
