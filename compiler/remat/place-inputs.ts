import { rewriteModule } from '../ir/rewrite.ts';
import { deadCodeEliminate, LEAF_OPS, type Module, type Rows, type Value } from '../ir/graph.ts';
import { Builder } from '../ir/builder.ts';
import { allocatedBytes, tensorBytes } from '../codegen/memory.ts';
import { tierOf } from '../ir/ops/tier.ts';

/**
 * Leaves kept in host memory: each input, parameter or optimizer state in `inputs` becomes a leaf of the host tier
 * (`tier: "host"`), and every op that reads it reads a `reload` made just before it (`<name>.reload`), which dies at
 * that reader. So it occupies GPU memory only while an op uses it — a graph's structure and features between the
 * layers that aggregate them, a weight between its forward and backward uses, Adam's moments outside their update
 * (ZeRO-Offload's optimizer state in host memory) — at the cost of one copy per reader. A `slice` of such a leaf's
 * rows (a block of a weight, block-nodes) reloads just those rows. A parameter's or state's update is copied back to
 * host memory (codegen/memory.ts: `earlyWrites`), and outputs joined from blocks are assembled there (placeOutputs).
 */
export function placeInputs(m: Module, inputs: ReadonlySet<Value>): Module {
  if (!inputs.size) return m;
  const placed = rewriteModule(m, (v, operands, b) => {
    if (inputs.has(v)) {
      const op = v.op as 'input' | 'param' | 'state';
      return b.leaf(op, String(v.attrs['name']), v.type, { ...v.attrs, tier: 'host' }, { loc: v.loc });
    }
    if (!v.inputs.some((x) => inputs.has(x))) return undefined;
    const rows = rowsSliced(v);
    if (rows)
      return b.op('reload', [operands[0]!], { rows: [...rows] }, { name: `${v.name ?? 'slice'}.reload`, loc: v.loc });
    const reloads = new Map<Value, Value>();
    const reload = (x: Value, y: Value) =>
      reloads.get(x) ??
      reloads.set(x, b.op('reload', [y], {}, { name: `${x.name ?? 'input'}.reload`, loc: v.loc })).get(x)!;
    const read = operands.map((y, k) => (inputs.has(v.inputs[k]!) ? reload(v.inputs[k]!, y) : y));
    return b.again(v, read, { name: v.name, loc: v.loc });
  });
  return placeOutputs(placed);
}

/** The rows a `slice` takes when it keeps every other axis whole (a block of a leaf: one range of its bytes). */
function rowsSliced(v: Value): Rows | undefined {
  if (v.op !== 'slice') return undefined;
  const [starts, ends] = [v.attrs['starts'] as number[], v.attrs['ends'] as number[]];
  const shape = v.inputs[0]!.type.shape;
  if (starts.slice(1).some((s) => s !== 0) || ends.slice(1).some((e, i) => e !== shape[i + 1])) return undefined;
  return [starts[0]!, ends[0]!];
}

/**
 * Outputs made in row blocks and joined only to be handed back (a model's logits over a graph's nodes in `blocks`)
 * are assembled in host memory instead: each block is copied there when it is made (into its rows of the output),
 * so the GPU never holds the whole.
 */
function placeOutputs(m: Module): Module {
  const readers = new Map<Value, number>();
  for (const v of m.values) for (const x of v.inputs) readers.set(x, (readers.get(x) ?? 0) + 1);
  const joined = (v: Value) =>
    v.op === 'concat' && v.attrs['axis'] === 0 && !readers.has(v) && v.inputs.every((x) => tierOf(x) === 'gpu');
  const parts = m.outputs.filter((o) => !o.rows && joined(o.value));
  if (!parts.length) return m;
  const rowsOf = new Map<Value, { name: string; rows: Rows }>();
  for (const o of parts) {
    let at = 0;
    for (const x of o.value.inputs) rowsOf.set(x, { name: o.name, rows: [at, (at += x.type.shape[0] as number)] });
  }
  const b = new Builder(m);
  b.values.length = 0;
  const copied = new Map<Value, Value>();
  for (const v of m.values) {
    b.values.push(v);
    const part = rowsOf.get(v);
    if (part) {
      const name = `${part.name}[${part.rows[0]}:${part.rows[1]}]`;
      copied.set(v, b.op('offload', [v], { tier: 'host' }, { name, loc: v.loc }));
    }
  }
  const outputs = m.outputs.flatMap((o) =>
    parts.includes(o)
      ? o.value.inputs.map((x) => ({ name: o.name, value: copied.get(x)!, rows: rowsOf.get(x)!.rows }))
      : [o],
  );
  return deadCodeEliminate({ ...m, values: b.values, outputs });
}

/** Leaves smaller than this (a step counter, a bias) stay on the GPU: one allocation's alignment. */
const MOVABLE_BYTES = 256;

/**
 * Leaves that could wait in host memory (inputs, parameters, optimizer state; the step counter and others under
 * MOVABLE_BYTES stay), those that free the most bytes per copy first: each reader costs a copy (and an update one
 * more), so Adam's moments, read once by their update, come before the weights, read in both passes.
 */
export function movableInputs(m: Module): Value[] {
  const readers = new Map<Value, number>();
  for (const v of m.values) for (const x of new Set(v.inputs)) readers.set(x, (readers.get(x) ?? 0) + 1);
  const updated = new Set(m.updates.map((u) => u.target));
  const copies = (v: Value) => (readers.get(v) ?? 0) + (updated.has(String(v.attrs['name'])) ? 1 : 0);
  const worth = (v: Value) => tensorBytes(v) / Math.max(1, copies(v));
  return m.values
    .filter((v) => LEAF_OPS.has(v.op) && v.attrs['tier'] !== 'host' && tensorBytes(v) >= MOVABLE_BYTES)
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

/**
 * A floor under any schedule's GPU arena: the leaves kept on the GPU (there for the whole step) and, at the op that
 * needs most, its result and operands at once — recomputing or moving other values lowers neither.
 */
export function gpuFloor(m: Module): number {
  const onGpu = (v: Value) => tierOf(v) === 'gpu';
  const bytes = (v: Value) => allocatedBytes(tensorBytes(v));
  let op = 0;
  for (const v of m.values) {
    if (LEAF_OPS.has(v.op)) continue;
    const ins = new Set(v.inputs.filter((x) => onGpu(x) && !LEAF_OPS.has(x.op)));
    op = Math.max(op, (onGpu(v) ? bytes(v) : 0) + [...ins].reduce((a, x) => a + bytes(x), 0));
  }
  return leafBytes(m, 'gpu') + op;
}
