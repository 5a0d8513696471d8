import { Builder } from '../ir/builder.ts';
import type { Module, Value } from '../ir/graph.ts';
import { leafName } from '../ir/graph.ts';
import { getOp } from '../ir/ops/registry.ts';
import type { Pass } from './pass.ts';
import { AUX_LOSS } from '../sema/builtins.ts';

export const gradOutput = (param: string) => `grad:${param}`;

/**
 * Reverse-mode autodiff: appends the backward graph of the training loss and one output
 * `grad:<param>` per parameter the loss depends on. Inference plans pass through unchanged.
 */
export const autodiff: Pass = {
  name: 'autodiff',
  doc: 'reverse-mode gradients of the loss with respect to every parameter not frozen',
  run(m, { config }) {
    if (config.task.kind !== 'train') return m;
    const lossName = config.task.loss;
    const loss = m.outputs.find((o) => o.name === lossName)?.value;
    if (!loss) throw new Error(`internal: no output "${lossName}" to differentiate`);
    const aux = m.outputs.find((o) => o.name === AUX_LOSS)?.value;
    return differentiate(m, loss, aux);
  },
};

/** Appends the gradients of `loss` (plus `aux`, when given: the model's auxiliary losses) to `m`. */
export function differentiate(m: Module, loss: Value, aux?: Value): Module {
  const fromParam = new Set<Value>();
  for (const v of m.values)
    if ((v.op === 'param' && !v.attrs['frozen']) || v.inputs.some((x) => fromParam.has(x))) fromParam.add(v);
  const toLoss = new Set<Value>(aux ? [loss, aux] : [loss]);
  for (let i = m.values.length - 1; i >= 0; i--) {
    const v = m.values[i]!;
    if (toLoss.has(v)) for (const x of v.inputs) toLoss.add(x);
  }
  const needs = (v: Value) => fromParam.has(v) && toLoss.has(v);

  const b = new Builder(m);
  const grads = new Map<Value, Value>();
  const accumulate = (v: Value, g: Value) => {
    const have = grads.get(v);
    grads.set(v, have ? b.op('add', [have, g]) : g);
  };
  // the cotangents of a packed result's parts, by offset: its op's rule takes them together
  const parts = new Map<Value, Map<number, Value>>();
  const packed = (v: Value) => v.op === 'part' && getOp(v.inputs[0]!.op).gradParts !== undefined;
  b.defaults = { name: 'loss.grad', loc: loss.loc };
  grads.set(loss, b.scalar(1, loss.type.dtype));
  if (aux) accumulate(aux, b.scalar(1, aux.type.dtype));
  const order = m.values.slice(0, Math.max(m.values.indexOf(loss), aux ? m.values.indexOf(aux) : -1) + 1).reverse();
  for (const v of order) {
    const g = grads.get(v);
    const mine = parts.get(v);
    if ((!g && !mine) || v.op === 'param' || !needs(v)) continue;
    if (packed(v)) {
      const root = v.inputs[0]!;
      parts.set(root, (parts.get(root) ?? new Map<number, Value>()).set(v.attrs['offset'] as number, g!));
      continue;
    }
    const def = getOp(v.op);
    b.defaults = { name: v.name !== undefined ? `${v.name}.grad` : undefined, loc: v.loc };
    if (mine && g) throw new Error(`internal: ${v.op}'s packed result is read whole and by parts`);
    if (!mine && !def.grad) throw new Error(`internal: op ${v.op} has no gradient rule (${def.noGrad ?? 'missing'})`);
    const gs = mine ? def.gradParts!(b, v, mine) : def.grad!(b, v, g!);
    v.inputs.forEach((x, k) => {
      const gx = gs[k];
      if (gx && needs(x)) accumulate(x, gx);
    });
  }
  const outputs = [...m.outputs];
  for (const p of m.values) {
    if (p.op !== 'param' || !grads.has(p)) continue;
    outputs.push({ name: gradOutput(leafName(p)), value: grads.get(p)! });
  }
  return { ...m, values: b.values, outputs };
}
