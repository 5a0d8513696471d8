import type { BinOp, Builtin, Expr, Fn, Scalar, Stmt } from './ir.ts';

/** Constructors of kernel IR: literals, operators (folding literal 0s and 1s away) and statements. */

export const f32 = (v: number): Expr => ({ k: 'lit', t: 'f32', v });
export const u32 = (v: number): Expr => ({ k: 'lit', t: 'u32', v: v >>> 0 });
export const i32 = (v: number): Expr => ({ k: 'lit', t: 'i32', v: v | 0 });
export const lit = (t: Scalar, v: number): Expr => ({ k: 'lit', t, v });
export const ref = (name: string, t: Scalar = 'u32'): Expr => ({ k: 'ref', t, name });
const builtin = (name: Builtin): Expr => ({ k: 'builtin', t: 'u32', name });
export const gid = { x: builtin('gid.x'), y: builtin('gid.y'), z: builtin('gid.z') };
export const wid = { x: builtin('wid.x'), y: builtin('wid.y'), z: builtin('wid.z') };
export const lid = builtin('lid');

export const load = (buf: string, index: Expr, t: Scalar = 'f32'): Expr => ({ k: 'load', t, buf, index });

const isLit = (e: Expr, v: number) => e.k === 'lit' && e.v === v;
const COMPARE = new Set<BinOp>(['<', '<=', '>', '>=', '==', '!=', '&&', '||']);

function bin(op: BinOp, a: Expr, b: Expr): Expr {
  if (a.t !== b.t) throw new Error(`internal: kernel IR ${op} of ${a.t} and ${b.t}`);
  return { k: 'bin', t: COMPARE.has(op) ? 'bool' : a.t, op, a, b };
}

export function add(a: Expr, b: Expr): Expr {
  if (a.t !== 'f32' && isLit(b, 0)) return a;
  if (a.t !== 'f32' && isLit(a, 0)) return b;
  return bin('+', a, b);
}
export const sub = (a: Expr, b: Expr): Expr => (a.t !== 'f32' && isLit(b, 0) ? a : bin('-', a, b));
export function mul(a: Expr, b: Expr): Expr {
  if (a.t !== 'f32' && isLit(b, 1)) return a;
  if (a.t !== 'f32' && isLit(a, 1)) return b;
  return bin('*', a, b);
}
export const div = (a: Expr, b: Expr): Expr => (a.t !== 'f32' && isLit(b, 1) ? a : bin('/', a, b));
export const mod = (a: Expr, b: Expr): Expr => bin('%', a, b);
export const lt = (a: Expr, b: Expr) => bin('<', a, b);
export const le = (a: Expr, b: Expr) => bin('<=', a, b);
export const gt = (a: Expr, b: Expr) => bin('>', a, b);
export const ge = (a: Expr, b: Expr) => bin('>=', a, b);
export const eq = (a: Expr, b: Expr) => bin('==', a, b);
export const ne = (a: Expr, b: Expr) => bin('!=', a, b);
export const and = (...xs: Expr[]): Expr => xs.reduce((a, b) => bin('&&', a, b));
export const or = (a: Expr, b: Expr) => bin('||', a, b);
export const xor = (a: Expr, b: Expr) => bin('^', a, b);
export const shr = (a: Expr, b: Expr) => bin('>>', a, b);
export const neg = (a: Expr): Expr => ({ k: 'neg', t: a.t, a });

export const call = (fn: Fn, ...args: Expr[]): Expr => ({ k: 'call', t: args[0]!.t, fn, args });
export const max = (a: Expr, b: Expr) => call('max', a, b);
export const min = (a: Expr, b: Expr) => call('min', a, b);
/** `cond ? then : else` (both sides are evaluated). */
export const select = (cond: Expr, then: Expr, otherwise: Expr): Expr => ({
  k: 'select',
  t: then.t,
  cond,
  then,
  else: otherwise,
});
export const cast = (t: Scalar, a: Expr): Expr => (a.t === t ? a : { k: 'cast', t, a });

export const let_ = (name: string, value: Expr): Stmt => ({ k: 'let', name, value });
export const var_ = (name: string, init: Expr): Stmt => ({ k: 'var', name, t: init.t, init });
export const array = (name: string, t: Scalar, size: number): Stmt => ({ k: 'array', name, t, size });
export const set = (name: string, value: Expr, op?: '+'): Stmt => ({ k: 'set', name, value, ...(op ? { op } : {}) });
export const setAt = (name: string, index: Expr, value: Expr, op?: '+'): Stmt => ({
  k: 'set',
  name,
  index,
  value,
  ...(op ? { op } : {}),
});
export const store = (buf: string, index: Expr, value: Expr, op?: '+'): Stmt => ({
  k: 'store',
  buf,
  index,
  value,
  ...(op ? { op } : {}),
});
export const loop = (v: string, from: Expr, to: Expr, body: Stmt[], step: Expr = u32(1)): Stmt => ({
  k: 'for',
  v,
  from,
  to,
  step,
  body,
});
export const if_ = (cond: Expr, then: Stmt[], otherwise?: Stmt[]): Stmt => ({
  k: 'if',
  cond,
  then,
  ...(otherwise ? { else: otherwise } : {}),
});
export const ret: Stmt = { k: 'return' };
export const brk: Stmt = { k: 'break' };
export const cont: Stmt = { k: 'continue' };
export const barrier: Stmt = { k: 'barrier' };
export const claim = (buf: string, index: Expr, into: string): Stmt => ({ k: 'claim', buf, index, into });
export const wait = (buf: string, index: Expr, value: Expr): Stmt => ({ k: 'wait', buf, index, value });
export const signal = (buf: string, index: Expr): Stmt => ({ k: 'signal', buf, index });
export const wreduce = (op: 'sum' | 'max', value: Expr, into: string): Stmt => ({ k: 'wreduce', op, value, into });

/** Binds subexpressions to names (a `let` in a kernel, a `const` in JavaScript): how scalar functions share work. */
export type Bind = (e: Expr) => Expr;
