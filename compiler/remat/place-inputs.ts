import { Builder } from '../ir/builder.ts';
import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { allocatedBytes, tensorBytes } from '../codegen/memory.ts';

/**
 * Inputs kept in host memory: each becomes an input fed into the host tier (`tier: "host"`), and every op that reads
 * it reads a `reload` made just before it (`<name>.reload`), which dies at that reader. So an input occupies GPU
 * memory only while an op uses it — a graph's structure and features between the layers that aggregate them — at
 * the cost of one copy per reader.
 */
export function placeInputs(m: Module, inputs: ReadonlySet<Value>): Module {
  if (!inputs.size) return m;
  const b = new Builder(m);
  b.values.length = 0;
  const now = new Map<Value, Value>();
  for (const v of m.values) {
    if (inputs.has(v)) {
      now.set(v, b.leaf('input', String(v.attrs['name']), v.type, { ...v.attrs, tier: 'host' }, { loc: v.loc }));
      continue;
    }
    if (LEAF_OPS.has(v.op)) {
      b.values.push(v);
      continue;
    }
    const reloads = new Map<Value, Value>();
    const operands = v.inputs.map((x) => {
      const y = now.get(x) ?? x;
      if (!inputs.has(x)) return y;
      if (!reloads.has(x)) reloads.set(x, b.op('reload', [y], {}, { name: `${x.name ?? 'input'}.reload`, loc: v.loc }));
      return reloads.get(x)!;
    });
    if (operands.every((y, k) => y === v.inputs[k])) b.values.push(v);
    else now.set(v, b.again(v, operands, { name: v.name, loc: v.loc }));
  }
  const out = (x: Value) => now.get(x) ?? x;
  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: out(o.value) })),
    updates: m.updates.map((u) => ({ ...u, value: out(u.value) })),
  };
}

/** Inputs that could wait in host memory (the step counter and others under 4 KiB stay), largest first. */
export function movableInputs(m: Module): Value[] {
  return m.values
    .filter((v) => v.op === 'input' && v.attrs['tier'] !== 'host' && tensorBytes(v) >= 4096)
    .filter((v) => !m.outputs.some((o) => o.value === v))
    .sort((a, b) => tensorBytes(b) - tensorBytes(a) || a.id - b.id);
}

/** Host memory the inputs placed there take (their allocations). */
export const hostInputBytes = (m: Module): number =>
  m.values
    .filter((v) => v.op === 'input' && v.attrs['tier'] === 'host')
    .reduce((a, v) => a + allocatedBytes(tensorBytes(v)), 0);
