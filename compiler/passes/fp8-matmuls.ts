import { rewriteModule } from '../ir/rewrite.ts';
import type { Module, Value } from '../ir/graph.ts';
import { amax, FP8_FORMATS, scaleFor } from '../ir/ops/fp8.ts';
import type { Pass } from './pass.ts';

/** Whether a matmul operand is a weight: a parameter, or a view of one (a tied head's transpose). */
const weight = (x: Value): boolean =>
  x.op === 'param' || ((x.op === 'transpose' || x.op === 'reshape') && weight(x.inputs[0]!));

/**
 * FP8 training and inference (`precision: fp8`, after the precision pass has made the plan bf16): every matmul with a
 * weight operand — the model's linear layers, not attention's products — becomes an FP8 GEMM (matmul {fp8}): both
 * operands quantised to E4M3 under per-tensor scales, its gradients to E5M2 (fp8.ts). A training step scales each
 * operand by the amax the previous step saw (Transformer Engine's delayed scaling, history 1): a `state` per operand,
 * `<matmul>.fp8_amax.<k>`, starting at 448 (scale 1) and updated with this step's amax; inference scales by the
 * operand's own amax.
 */
export const fp8Matmuls: Pass = {
  name: 'fp8-matmuls',
  doc: 'the linear layers as FP8 GEMMs: E4M3 operands under per-tensor scales, E5M2 gradients (precision: fp8)',
  run(m, { config }) {
    if (config.precision !== 'fp8') return m;
    const training = config.task.kind === 'train';
    const added: Module['updates'] = [];
    const names = new Map<string, number>();
    const out = rewriteModule(m, (v, ins, b) => {
      if (v.op !== 'matmul' || !v.inputs.some(weight) || v.attrs['fp8']) return undefined;
      const base = v.name ?? 'matmul';
      const n = names.get(base) ?? 0;
      names.set(base, n + 1);
      const saved = b.defaults;
      b.defaults = { name: `${base}.fp8`, loc: v.loc };
      const quantised = ins.map((x, k) => {
        let scale: Value;
        if (training) {
          const name = `${base}.fp8_amax.${n ? `${n}.` : ''}${k}`;
          const init = { init: 'constant', value: FP8_FORMATS.e4m3.max };
          const state = b.leaf('state', name, { dtype: 'f32', shape: [] }, init);
          scale = scaleFor(b, state, 'e4m3', x.type.dtype);
          const now = amax(b, x);
          added.push({ target: name, value: now.type.dtype === 'f32' ? now : b.op('cast', [now], { dtype: 'f32' }) });
        } else scale = scaleFor(b, amax(b, x), 'e4m3', x.type.dtype);
        return b.op('fp8_e4m3', [x, scale]);
      });
      b.defaults = saved;
      return b.op('matmul', quantised, { ...v.attrs, fp8: true }, { name: v.name, loc: v.loc });
    });
    return { ...out, updates: [...out.updates, ...added] };
  },
};
