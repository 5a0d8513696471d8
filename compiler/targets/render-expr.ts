import type { BinOp, Expr } from '../kernel/ir.ts';

/** How a target spells what expressions share between C-like languages; each renderer fills in the rest. */
export interface ExprSyntax {
  lit(e: Extract<Expr, { k: 'lit' }>): string;
  builtin(name: string): string;
  call(e: Extract<Expr, { k: 'call' }>, args: string[]): string;
  select(cond: string, then: string, otherwise: string): string;
  cast(t: Expr['t'], a: string): string;
  /** A buffer's element, where the target reads some buffers specially (CUDA: coherent ones past L1). */
  load?(buf: string, index: string): string;
}

const ARITH: Partial<Record<BinOp, number>> = { '+': 1, '-': 1, '*': 2, '/': 2, '%': 2 };
const BITWISE = new Set<BinOp>(['^', '>>']);
const LOGICAL = new Set<BinOp>(['&&', '||']);
const atomic = (e: Expr) => e.k !== 'bin' && e.k !== 'neg';

/**
 * Renders an expression with the parentheses that WGSL and C both need: arithmetic by precedence, operands of bitwise
 * operators unless atomic (WGSL requires it), and logical operators mixed only inside parentheses.
 */
export function renderExpr(e: Expr, s: ExprSyntax): string {
  const r = (x: Expr) => renderExpr(x, s);
  switch (e.k) {
    case 'lit':
      return s.lit(e);
    case 'ref':
      return e.name;
    case 'builtin':
      return s.builtin(e.name);
    case 'load':
      return s.load ? s.load(e.buf, r(e.index)) : `${e.buf}[${r(e.index)}]`;
    case 'neg':
      return atomic(e.a) ? `-${r(e.a)}` : `-(${r(e.a)})`;
    case 'call':
      return s.call(e, e.args.map(r));
    case 'select':
      return s.select(r(e.cond), r(e.then), r(e.else));
    case 'cast':
      return s.cast(e.t, r(e.a));
    case 'bin': {
      const side = (x: Expr, right: boolean): string => {
        const text = r(x);
        if (atomic(x) || x.k !== 'bin') return text;
        const p = ARITH[e.op];
        const q = ARITH[x.op];
        if (BITWISE.has(e.op)) return `(${text})`;
        if (p !== undefined) {
          if (q === undefined || q < p || (q === p && right)) return `(${text})`;
          return text;
        }
        if (LOGICAL.has(e.op)) return LOGICAL.has(x.op) && x.op !== e.op ? `(${text})` : text;
        // a comparison: arithmetic binds tighter; anything else is parenthesised
        return q !== undefined ? text : `(${text})`;
      };
      return `${side(e.a, false)} ${e.op} ${side(e.b, true)}`;
    }
  }
}

/** A float literal that WGSL, C and CUDA all read (`1.0f`, `2.5e-7f`). */
export function floatLiteral(x: number): string {
  const s = String(x);
  return `${s}${/[.e]/.test(s) ? '' : '.0'}f`;
}
