import { leafName, type Module } from '../ir/graph.ts';
import { bytesOf, elems } from '../ir/op.ts';
import type { TensorType } from '../ir/types.ts';
import { isGradSum } from '../passes/optimizer.ts';

/**
 * Bytes a trained parameter's model states take (ZeRO's "model states", before sharding), by what holds them: the
 * weight itself, its gradient (the fp32 sum of micro-batches' gradients under accumulation, Megatron's main gradient;
 * else the backward's gradient in the weight's precision), the fp32 master copy of a half-precision weight, and the
 * optimizer's state (Adam's moments). Mixed-precision Adam is 2 + 2 + 4 + 8 = 16 bytes (Rajbhandari et al.); with
 * accumulation in fp32, 2 + 4 + 4 + 8 = 18 (Megatron-LM).
 */
export interface StateLayout {
  weights: number;
  gradients: number;
  master: number;
  optimizer: number;
  total: number;
  /** Whether the gradients are fp32 sums over micro-batches. */
  accumulated: boolean;
}

export function stateLayout(m: Module): StateLayout | undefined {
  const trained = m.values.filter((v) => v.op === 'param' && !v.attrs['frozen']);
  const count = trained.reduce((a, v) => a + elems(v.type), 0);
  const grads = m.outputs.filter((o) => o.name.startsWith('grad:'));
  if (!count || !grads.length) return undefined;
  const states = m.values.filter((v) => v.op === 'state' && !v.attrs['kv_cache']);
  const sum = (vs: { type: TensorType }[]) => vs.reduce((a, v) => a + bytesOf(v.type), 0) / count;
  const sums = states.filter(isGradSum);
  const masters = states.filter((v) => v.attrs['master'] !== undefined);
  const weights = sum(trained);
  const gradients = sums.length ? sum(sums) : sum(grads.map((o) => o.value));
  const master = sum(masters);
  const named = new Set([...sums, ...masters].map(leafName));
  const optimizer = sum(states.filter((v) => !named.has(leafName(v))));
  return {
    weights,
    gradients,
    master,
    optimizer,
    total: weights + gradients + master + optimizer,
    accumulated: sums.length > 0,
  };
}
