import type { Value } from '../graph.ts';
import type { OpDef } from '../op.ts';
import { bytesOf, elems, overHeads } from '../op.ts';
import { broadcastShapes, ShapeError } from '../types.ts';
import { SCALAR_OPS, scalarOf } from './elementwise.ts';
import { broadcastIndex, like, shapeOf } from './util.ts';

/** An elementwise expression over operands `x0…xn` and literals `c(v)`, e.g. `mul(add(x0,x1),c(0.5))`. */
export type Expr =
  | { kind: 'operand'; index: number }
  | { kind: 'const'; value: number }
  | { kind: 'call'; op: string; args: Expr[] };

export const FUSIBLE = new Set(Object.keys(SCALAR_OPS));

export function parseExpr(text: string): Expr {
  let i = 0;
  const fail = (): never => {
    throw new ShapeError(`bad fused expression at ${i}: ${text}`);
  };
  const expr = (): Expr => {
    const m = /^[a-z_0-9]+/.exec(text.slice(i)) ?? fail();
    const word = m[0];
    i += word.length;
    if (/^x\d+$/.test(word)) return { kind: 'operand', index: Number(word.slice(1)) };
    if (text[i] !== '(') fail();
    i++;
    if (word === 'c') {
      const n = /^[^)]+/.exec(text.slice(i)) ?? fail();
      i += n[0].length + 1;
      return { kind: 'const', value: n[0] === '-inf' ? -Infinity : n[0] === 'inf' ? Infinity : Number(n[0]) };
    }
    if (!FUSIBLE.has(word)) fail();
    const args = [expr()];
    while (text[i] === ',') {
      i++;
      args.push(expr());
    }
    if (text[i] !== ')') fail();
    i++;
    return { kind: 'call', op: word, args };
  };
  const e = expr();
  if (i !== text.length) fail();
  return e;
}

export function printExpr(e: Expr): string {
  if (e.kind === 'operand') return `x${e.index}`;
  if (e.kind === 'const') return `c(${e.value === -Infinity ? '-inf' : e.value === Infinity ? 'inf' : e.value})`;
  return `${e.op}(${e.args.map(printExpr).join(',')})`;
}

function countOps(e: Expr): number {
  return e.kind === 'call' ? 1 + e.args.reduce((a, x) => a + countOps(x), 0) : 0;
}

/** Evaluates an expression on scalars, with the same functions as the unfused ops. */
export function evalExpr(e: Expr, xs: number[]): number {
  if (e.kind === 'operand') return xs[e.index]!;
  if (e.kind === 'const') return e.value;
  return scalarOf(e.op)(...e.args.map((x) => evalExpr(x, xs)));
}

/**
 * `fused {expr}`: a chain of elementwise ops in one kernel, made by the fusion pass after autodiff
 * (so it needs no gradient). Operands broadcast as in the ops it replaces.
 */
export const fusedOps: OpDef[] = [
  {
    name: 'fused',
    class: overHeads('elementwise'),
    arity: 'variadic',
    attrs: { expr: { kind: 'string' } },
    infer: (ins, a) => {
      const e = parseExpr(String(a['expr']));
      const used = new Set<number>();
      const walk = (x: Expr): void =>
        x.kind === 'operand' ? void used.add(x.index) : x.kind === 'call' ? x.args.forEach(walk) : undefined;
      walk(e);
      if ([...used].some((k) => k >= ins.length) || used.size !== ins.length)
        throw new ShapeError(`fused expression uses operands ${[...used].sort()} but has ${ins.length}`);
      return { dtype: ins[0]!.dtype, shape: ins.reduce((s, t) => broadcastShapes(s, t.shape), ins[0]!.shape) };
    },
    noGrad: 'fusion runs after autodiff',
    cost: (v: Value) => ({
      flops: countOps(parseExpr(String(v.attrs['expr']))) * elems(v.type),
      bytes: bytesOf(v.type) + v.inputs.reduce((a, x) => a + bytesOf(x.type), 0),
    }),
    ref: (ins, v, ctx) => {
      const out = like(ctx, v.type);
      const e = parseExpr(String(v.attrs['expr']));
      const idx = ins.map((x) => broadcastIndex(shapeOf(v), x.shape));
      const xs = new Array<number>(ins.length);
      for (let i = 0; i < out.length; i++) {
        for (let k = 0; k < ins.length; k++) xs[k] = ins[k]!.data[idx[k] ? idx[k]![i]! : i]!;
        out[i] = evalExpr(e, xs);
      }
      return { data: out, shape: shapeOf(v) };
    },
  },
];
