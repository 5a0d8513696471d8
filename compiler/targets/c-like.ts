import type { Expr, Kernel, Scalar, Stmt } from '../kernel/ir.ts';
import { walk } from '../kernel/ir.ts';
import type { Plan } from '../../runtime/plan.ts';
import { type ExprSyntax, floatLiteral, renderExpr } from './render-expr.ts';

/** Statements between the workgroups of a persistent kernel. */
export type SyncStmt = 'claim' | 'wait' | 'signal';

/** Whether a kernel has them (it needs its target's counters). */
export function syncs(k: Kernel): boolean {
  let found = false;
  walk(k.body, (s) => {
    if (s.k === 'claim' || s.k === 'wait' || s.k === 'signal') found = true;
  });
  return found;
}

/** Statement rendering that C and CUDA share; `special` renders what differs (barriers, workgroup reductions). */
export interface CLike {
  types: Record<Scalar, string>;
  syntax: ExprSyntax;
  special(s: Extract<Stmt, { k: 'barrier' | 'wreduce' | SyncStmt }>, indent: string): string[];
}

export function cStatements(body: Stmt[], lang: CLike, indent = '  '): string[] {
  const expr = (e: Expr) => renderExpr(e, lang.syntax);
  const block = (b: Stmt[], ind: string) => {
    const inner = cStatements(b, lang, `${ind}  `);
    if (inner.length === 1 && inner[0]!.length < 90 && !inner[0]!.includes('\n')) return `{ ${inner[0]!.trim()} }`;
    return `{\n${inner.join('\n')}\n${ind}}`;
  };
  return body.flatMap((s): string[] => {
    switch (s.k) {
      case 'let':
        return [`${indent}const ${lang.types[s.value.t]} ${s.name} = ${expr(s.value)};`];
      case 'var':
        return [`${indent}${lang.types[s.t]} ${s.name} = ${expr(s.init)};`];
      case 'array':
        return [`${indent}${lang.types[s.t]} ${s.name}[${s.size}] = {0};`];
      case 'set':
      case 'store': {
        const target =
          s.k === 'set' ? (s.index ? `${s.name}[${expr(s.index)}]` : s.name) : `${s.buf}[${expr(s.index)}]`;
        return [`${indent}${target} ${s.op ? `${s.op}=` : '='} ${expr(s.value)};`];
      }
      case 'for': {
        const step = s.step.k === 'lit' && s.step.v === 1 ? `${s.v}++` : `${s.v} += ${expr(s.step)}`;
        const head = `for (uint32_t ${s.v} = ${expr(s.from)}; ${s.v} < ${expr(s.to)}; ${step})`;
        return [`${indent}${head} ${block(s.body, indent)}`];
      }
      case 'if':
        return [
          `${indent}if (${expr(s.cond)}) ${block(s.then, indent)}${s.else ? ` else ${block(s.else, indent)}` : ''}`,
        ];
      case 'break':
      case 'continue':
      case 'return':
        return [`${indent}${s.k};`];
      case 'barrier':
      case 'wreduce':
      case 'claim':
      case 'wait':
      case 'signal':
        return lang.special(s, indent);
    }
  });
}

/** The C types of buffers. */
export const C_TYPES: Record<Scalar, string> = { f32: 'float', i32: 'int32_t', u32: 'uint32_t', bool: 'int' };

/** A launch's pointer arguments into the arena `A`: each bound buffer's offset, cast to the kernel's buffer type. */
export function launchArgs(plan: Plan, k: Kernel, bindings: number[]): string {
  return bindings.map((id, j) => `(${C_TYPES[k.buffers[j]!.t]}*)(A + ${plan.buffers[id]!.offset}u)`).join(', ');
}

/** The free steps' ranges (offset, bytes) for poisoning, by step index. */
export function freedRange(plan: Plan, id: number): [number, number] {
  const b = plan.buffers[id]!;
  return [b.offset, Math.max(4, b.bytes)];
}

/** A literal in C or CUDA: `specials` spells what has no literal (infinities, NaN), `yes`/`no` the booleans. */
export function cLiteral(
  e: Extract<Expr, { k: 'lit' }>,
  specials: { inf: string; ninf: string; nan: string },
  yes: string,
  no: string,
): string {
  if (e.t === 'u32') return `${e.v}u`;
  if (e.t === 'i32') return e.v < 0 ? `(${e.v})` : `${e.v}`;
  if (e.t === 'bool') return e.v ? yes : no;
  if (e.v === Infinity) return specials.inf;
  if (e.v === -Infinity) return specials.ninf;
  if (Number.isNaN(e.v)) return specials.nan;
  return e.v < 0 ? `(${floatLiteral(e.v)})` : floatLiteral(e.v);
}

/** A call in C or CUDA: f32 math through the `f` functions, integer max and min through `int`'s spelling. */
export function cCall(e: Extract<Expr, { k: 'call' }>, args: string[], int: (fn: string) => string): string {
  if (e.t !== 'f32') return `${int(e.fn)}(${args.join(', ')})`;
  const fn = e.fn === 'max' ? 'fmaxf' : e.fn === 'min' ? 'fminf' : `${e.fn}f`;
  return `${fn}(${args.join(', ')})`;
}

/**
 * How a host library runs a partitioned plan's steps (one with exchanges between ranks): each step guarded by the
 * run of steps asked for and, in a pipeline, by the stage its rank runs; a plan without exchanges runs every step.
 */
export function rankedSteps(plan: Plan): {
  params: string;
  all: string;
  guard: (k: number, st: Plan['steps'][number], lines: string[]) => string[];
} {
  if (!plan.steps.some((st) => st.kind === 'collective')) return { params: '', all: '', guard: (_k, _st, l) => l };
  const send = plan.steps.find((st) => st.kind === 'collective' && st.op === 'pp_send');
  const P = send && send.kind === 'collective' ? Number(send.attrs['pipeline']) : 1;
  return {
    params: ', int from, int to, int pipe',
    all: `, 0, ${plan.steps.length}, -1`,
    guard: (k, st, lines) => {
      if (!lines.length) return lines;
      const stage = 'stage' in st && st.stage !== undefined ? st.stage % P : -1;
      const on = stage < 0 ? '' : ` && (pipe < 0 || pipe == ${stage})`;
      return [`  if (from <= ${k} && ${k} < to${on}) {`, ...lines.map((l) => `  ${l}`), '  }'];
    },
  };
}
