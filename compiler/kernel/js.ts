import type { Bind } from './build.ts';
import { ref } from './build.ts';
import type { Expr } from './ir.ts';

const MATH: Record<string, string> = {
  exp: 'Math.exp',
  log: 'Math.log',
  tanh: 'Math.tanh',
  sqrt: 'Math.sqrt',
  sin: 'Math.sin',
  cos: 'Math.cos',
  pow: 'Math.pow',
  max: 'Math.max',
  min: 'Math.min',
};

function js(e: Expr): string {
  switch (e.k) {
    case 'lit':
      return Number.isNaN(e.v) ? 'NaN' : e.v === Infinity ? 'Infinity' : e.v === -Infinity ? '-Infinity' : `(${e.v})`;
    case 'ref':
      return e.name;
    case 'bin':
      return `(${js(e.a)} ${e.op} ${js(e.b)})`;
    case 'neg':
      return `(-${js(e.a)})`;
    case 'call':
      return `${MATH[e.fn]}(${e.args.map(js).join(', ')})`;
    case 'select':
      return `(${js(e.cond)} ? ${js(e.then)} : ${js(e.else)})`;
    case 'cast':
      // a float to an integer truncates toward zero, as in C and WGSL
      return e.t === 'f32' || e.a.t !== 'f32' ? js(e.a) : `Math.trunc(${js(e.a)})`;
    default:
      throw new Error(`internal: ${e.k} in a scalar function`);
  }
}

/**
 * A scalar function of `arity` float operands, as JavaScript (in double precision): how the CPU reference runs the
 * expression that an elementwise op declares, the one its kernels are rendered from.
 */
export function scalarFunction(arity: number, expr: (args: Expr[], bind: Bind) => Expr): (...xs: number[]) => number {
  const lines: string[] = [];
  const bind: Bind = (e) => {
    const name = `t${lines.length}`;
    lines.push(`const ${name} = ${js(e)};`);
    return ref(name, e.t);
  };
  const params = Array.from({ length: arity }, (_, k) => `x${k}`);
  const out = js(
    expr(
      params.map((p) => ref(p, 'f32')),
      bind,
    ),
  );
  return new Function(...params, `${lines.join('\n')}\nreturn ${out};`) as (...xs: number[]) => number;
}
