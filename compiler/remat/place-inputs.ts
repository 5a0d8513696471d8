import { rewriteModule } from '../ir/rewrite.ts';
import { LEAF_OPS, type Module, type Value } from '../ir/graph.ts';
import { allocatedBytes, tensorBytes } from '../codegen/memory.ts';
import { tierOf } from '../ir/ops/tier.ts';

/**
 * Leaves kept in host memory: each input, parameter or optimizer state in `inputs` becomes a leaf of the host tier
 * (`tier: "host"`), and every op that reads it reads a `reload` made just before it (`<name>.reload`), which dies at
 * that reader. So it occupies GPU memory only while an op uses it — a graph's structure and features between the
 * layers that aggregate them, a weight between its forward and backward uses, Adam's moments outside their update
 * (ZeRO-Offload's optimizer state in host memory) — at the cost of one copy per reader. A parameter's or state's
 * update is copied back to host memory (codegen/memory.ts: `earlyWrites`).
 */
export function placeInputs(m: Module, inputs: ReadonlySet<Value>): Module {
  if (!inputs.size) return m;
  return rewriteModule(m, (v, operands, b) => {
    if (inputs.has(v)) {
      const op = v.op as 'input' | 'param' | 'state';
      return b.leaf(op, String(v.attrs['name']), v.type, { ...v.attrs, tier: 'host' }, { loc: v.loc });
    }
    if (!v.inputs.some((x) => inputs.has(x))) return undefined;
    const reloads = new Map<Value, Value>();
    const reload = (x: Value, y: Value) =>
      reloads.get(x) ??
      reloads.set(x, b.op('reload', [y], {}, { name: `${x.name ?? 'input'}.reload`, loc: v.loc })).get(x)!;
    const read = operands.map((y, k) => (inputs.has(v.inputs[k]!) ? reload(v.inputs[k]!, y) : y));
    return b.again(v, read, { name: v.name, loc: v.loc });
  });
}

/**
 * Leaves that could wait in host memory (inputs, parameters, optimizer state; the step counter and others under
 * 1 KiB stay), those that free the most bytes per copy first: each reader costs a copy (and an update one more), so
 * Adam's moments, read once by their update, come before the weights, read in both passes.
 */
export function movableInputs(m: Module): Value[] {
  const readers = new Map<Value, number>();
  for (const v of m.values) for (const x of new Set(v.inputs)) readers.set(x, (readers.get(x) ?? 0) + 1);
  const updated = new Set(m.updates.map((u) => u.target));
  const copies = (v: Value) => (readers.get(v) ?? 0) + (updated.has(String(v.attrs['name'])) ? 1 : 0);
  const worth = (v: Value) => tensorBytes(v) / Math.max(1, copies(v));
  return m.values
    .filter((v) => LEAF_OPS.has(v.op) && v.attrs['tier'] !== 'host' && tensorBytes(v) >= 1024)
    .filter((v) => !m.outputs.some((o) => o.value === v))
    .sort((a, b) => worth(b) - worth(a) || a.id - b.id);
}

/**
 * The bytes the leaves in a tier take (their allocations, held for the whole step): in host memory, where placeInputs
 * put them; on the GPU, a floor under any schedule that keeps them there.
 */
export const leafBytes = (m: Module, tier: 'gpu' | 'host'): number =>
  m.values
    .filter((v) => LEAF_OPS.has(v.op) && tierOf(v) === tier)
    .reduce((a, v) => a + allocatedBytes(tensorBytes(v)), 0);
