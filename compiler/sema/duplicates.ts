import type * as A from '../../grammar/ast.ts';
import { diag, type Diagnostic } from '../../grammar/diagnostics.ts';

/**
 * Keys given twice, anywhere in a file: a field of a block (`bind: { B: 2, B: 3 }`, `memory: { gpu: …,
 * gpu: … }`) is FLX2011, a named argument of a call (`sgd(lr: 0.1, lr: 5)`, `M(d: 2, d: 3)`) FLX3013.
 * Otherwise the last would silently win. Walks the syntax without recursion.
 */
export function duplicateKeys(ast: A.FlexFile): Diagnostic[] {
  const out: Diagnostic[] = [];
  const stack: unknown[] = [ast.decls];
  while (stack.length) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      if (node.length > 1 && node.every(isField)) twice(node as A.Field[], (f) => f.key, 'FLX2011', 'field', out);
      for (const x of node) stack.push(x);
      continue;
    }
    const n = node as { kind?: string; args?: A.Arg[] };
    if (n.kind === 'call' && n.args) twice(n.args, (a) => a.name, 'FLX3013', 'argument', out);
    for (const [k, v] of Object.entries(n)) if (k !== 'span') stack.push(v);
  }
  return out;
}

function isField(x: unknown): x is A.Field {
  return typeof x === 'object' && x !== null && 'key' in x && 'value' in x;
}

function twice<T>(
  items: T[],
  key: (t: T) => A.Ident | undefined,
  code: 'FLX2011' | 'FLX3013',
  what: string,
  out: Diagnostic[],
): void {
  const seen = new Map<string, A.Ident>();
  for (const item of items) {
    const k = key(item);
    if (!k) continue;
    const first = seen.get(k.name);
    if (first)
      out.push(
        diag(code, k.span, `${what} \`${k.name}\` is given twice`, `the first is at line ${first.span.line}; keep one`),
      );
    else seen.set(k.name, k);
  }
}
