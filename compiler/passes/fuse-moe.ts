import type { Builder, ValueMeta } from '../ir/builder.ts';
import type { Attrs, Value } from '../ir/graph.ts';
import { BALANCE_WORDS, decomposeMoe, type Emit, layerOperands, moeLayerOf } from '../ir/ops/moe-layer.ts';
import { fusable, moeWorkspace } from '../kernel/lower/moe-fused.ts';
import { rewriteModule } from '../ir/rewrite.ts';
import type { Pass } from './pass.ts';

/** The fused `moe` op on its layer operands, with the workspace its kernel needs. */
export function withWorkspace(b: Builder, operands: Value[], attrs: Attrs, meta: ValueMeta = {}): Value {
  const ws = moeWorkspace({ inputs: operands, attrs } as Value);
  const grad = moeWorkspace({ inputs: operands, attrs } as Value, true);
  const scratch = b.op('scratch', [], { dtype: 'f32', size: ws.floats, zero: false }, meta);
  const counters = b.op('scratch', [], { dtype: 'i32', size: ws.counters, zero: true }, meta);
  const withGrad = { ...attrs, grad_workspace: [grad.floats, grad.counters] };
  return b.op('moe', [...operands, scratch, counters], withGrad, meta);
}

/**
 * Partial lowering of MoE layers (MLIR's Toy, chapter 5): with `fuse: [moe]`, a `moe` op the fused kernel can run
 * (kernel/lower/moe-fused.ts) stays one op and gets its workspace (`scratch`: f32 words, and counters zeroed before
 * each launch); every other `moe` op becomes its decomposition. The decomposition reuses an op the module already
 * computes (a balance loss's router and top-k), so the unfused layer computes them once; a layer that packs its balance
 * loss with y has its two parts replaced by the decomposition's two results.
 */
export const fuseMoe: Pass = {
  name: 'fuse-moe',
  doc: 'MoE layers: one fused kernel each with fuse: [moe], else decomposed into routing, gathers and expert products',
  run(m, { config }) {
    if (!m.values.some((v) => v.op === 'moe' && layerOperands(v).length === v.inputs.length)) return m;
    const fuse = config.fuse.includes('moe');
    const known = new Map<string, Value>();
    let seen = 0;
    const keyOf = (op: string, ins: Value[], at: object) =>
      `${op}(${ins.map((x) => x.id).join(',')})${JSON.stringify(at)}`;
    const cse = (b: Builder): Emit => {
      for (; seen < b.values.length; seen++) {
        const v = b.values[seen]!;
        known.set(keyOf(v.op, v.inputs, v.attrs), v);
      }
      return (op, ins, at = {}) => {
        const key = keyOf(op, ins, at);
        const had = known.get(key);
        if (had) return had;
        const v = b.op(op, ins, at);
        known.set(key, v);
        seen = b.values.length;
        return v;
      };
    };
    // a packed layer's decomposition, by the layer: the parts read it
    const split = new Map<Value, Value[]>();
    return rewriteModule(m, (v, operands, b) => {
      const parts = v.op === 'part' ? split.get(v.inputs[0]!) : undefined;
      if (parts) return v.attrs['offset'] === BALANCE_WORDS ? parts[0] : parts[1];
      if (v.op !== 'moe' || layerOperands(v).length !== v.inputs.length) return undefined;
      const meta = { name: v.name, loc: v.loc };
      if (fuse && fusable(v)) return withWorkspace(b, operands, v.attrs, meta);
      const saved = b.defaults;
      b.defaults = meta;
      const outs = decomposeMoe(cse(b), operands[0]!, operands[1]!, operands.slice(2), moeLayerOf(v));
      b.defaults = saved;
      if (outs.length > 1) split.set(v, outs);
      // a packed layer is read only through its parts, which now read its results: nothing reads what replaces it
      return outs[0];
    });
  },
};
