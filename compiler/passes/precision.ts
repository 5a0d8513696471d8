import { Builder } from '../ir/builder.ts';
import { leafName, type Module, type Value } from '../ir/graph.ts';
import type { DType } from '../ir/types.ts';
import type { Pass } from './pass.ts';

/** The dtype of a plan's tensors under each half precision (fp8: bf16, its linear layers' GEMMs in FP8). */
export const HALF: Record<string, DType> = { bf16: 'bf16', fp16: 'f16', fp8: 'bf16' };

/** The state leaf holding a half-precision parameter's fp32 master copy. */
export const masterOf = (param: string) => `${param}.master`;

/**
 * Mixed precision (Micikevicius et al. 2018): with `precision: bf16 | fp16` every f32 tensor of the
 * model (parameters, float inputs, constants, and so every activation) becomes half precision; a
 * trained parameter keeps an fp32 master copy as a `state` leaf, which the optimizer updates and
 * casts back. fp32 plans pass through unchanged.
 */
export const precision: Pass = {
  name: 'precision',
  doc: 'bf16/fp16 tensors with fp32 master weights (mixed precision); fp32 plans pass through',
  run(m, { config }) {
    const half = HALF[config.precision];
    return half ? toHalf(m, half, config.task.kind !== 'infer') : m;
  },
};

export function toHalf(m: Module, half: DType, training: boolean): Module {
  const b = new Builder();
  const map = new Map<Value, Value>();
  const f32 = (v: Value) => v.type.dtype === 'f32';
  for (const v of m.values) {
    const meta = { name: v.name, loc: v.loc };
    let to: Value;
    if (v.op === 'param' || v.op === 'input' || v.op === 'state') {
      to = b.leaf(v.op, leafName(v), f32(v) ? { ...v.type, dtype: half } : v.type, v.attrs, meta);
      const master = masterOf(leafName(v));
      if (v.op === 'param' && f32(v) && training && !v.attrs['frozen'])
        b.leaf('state', master, v.type, { ...v.attrs, name: master, master: leafName(v) }, { ...meta, name: master });
    } else if ((v.op === 'const' || v.op === 'full') && f32(v)) to = b.op(v.op, [], { ...v.attrs, dtype: half }, meta);
    else
      to = b.op(
        v.op,
        v.inputs.map((x) => map.get(x)!),
        v.attrs,
        meta,
      );
    map.set(v, to);
  }
  return {
    ...m,
    values: b.values,
    outputs: m.outputs.map((o) => ({ ...o, value: map.get(o.value)! })),
    updates: m.updates.map((u) => ({ ...u, value: map.get(u.value)! })),
  };
}
