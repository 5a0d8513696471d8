import { decomposeAttention } from '../ir/ops/attention.ts';
import { rewriteModule } from '../ir/rewrite.ts';
import type { Pass } from './pass.ts';

/**
 * Partial lowering of attention: `attention: fused` (the default) keeps each `attention` op, whose kernels never hold
 * the scores whole; `attention: composite` writes it as its composite (scores, mask, softmax, product), the T×S scores
 * materialised as the unfused models of PyTorch and Megatron without FlashAttention do.
 */
export const lowerAttention: Pass = {
  name: 'lower-attention',
  doc: 'attention: one fused kernel each way (FlashAttention), or its composite with attention: composite',
  run(m, { config }) {
    if (config.attention !== 'composite' || !m.values.some((v) => v.op === 'attention')) return m;
    return rewriteModule(m, (v, operands, b) => {
      if (v.op !== 'attention') return undefined;
      const saved = b.defaults;
      b.defaults = { name: v.name, loc: v.loc };
      const y = decomposeAttention(
        (op, ins, at) => b.op(op, ins, at),
        operands[0]!,
        operands[1]!,
        operands[2]!,
        v.attrs,
        operands[3],
      );
      b.defaults = saved;
      return y;
    });
  },
};
