import type { Module, Value } from './graph.ts';

/**
 * The module's values in the order the outputs and updates need them, each op right before its first reader: a chain
 * of row-wise ops then runs block after block, not op after op with every block of every intermediate alive.
 */
export function depthFirst(m: Module, lossName: string | undefined): Module {
  const order: Value[] = [];
  const done = new Set<Value>();
  // the loss and the step's updates first; other outputs (a model's logits) once those are done, so that their
  // blocks may wait off the GPU meanwhile instead of the whole output
  const loss = m.outputs.find((o) => o.name === lossName)?.value;
  const roots = [
    ...(loss ? [loss] : []),
    ...m.updates.map((u) => u.value),
    ...m.outputs.filter((o) => o.value !== loss).map((o) => o.value),
  ];
  for (const v of m.values) if (v.op === 'param' || v.op === 'state') roots.push(v);
  for (const root of roots) {
    const stack: [Value, number][] = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [v, k] = top;
      if (done.has(v)) {
        stack.pop();
        continue;
      }
      if (k < v.inputs.length) {
        top[1]++;
        if (!done.has(v.inputs[k]!)) stack.push([v.inputs[k]!, 0]);
        continue;
      }
      done.add(v);
      order.push(v);
      stack.pop();
    }
  }
  return { ...m, values: order };
}
