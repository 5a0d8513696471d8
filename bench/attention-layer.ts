/**
 * The causal attention of bench/attention.ts and the GPU check, as .flex: `Infer` (q, k, v in, o out) and `Train` (q,
 * k, v projected from x; loss mean(o²)), 8 heads of 64, batch 1; a plan `<task>_<T>_<attention>` per case.
 */
export const [ATTN_HEADS, ATTN_DH] = [8, 64];
export type AttentionCase = { task: 'infer' | 'train'; t: number; attention: 'fused' | 'composite' };

export const attentionCaseName = (c: AttentionCase) => `${c.task}_${c.t}_${c.attention}`;

export function attentionLayerSource(cases: AttentionCase[]): string {
  return [
    `model Infer(heads: ${ATTN_HEADS}, dh: ${ATTN_DH}) {`,
    '  input q: f32[1, heads, T, dh]',
    '  input k: f32[1, heads, T, dh]',
    '  input v: f32[1, heads, T, dh]',
    '  output o = attention(q, k, v)',
    '}',
    `model Train(heads: ${ATTN_HEADS}, dh: ${ATTN_DH}) {`,
    '  input x: f32[1, heads, T, dh]',
    '  param wq: f32[dh, dh] = normal(0.1)',
    '  param wk: f32[dh, dh] = normal(0.1)',
    '  param wv: f32[dh, dh] = normal(0.1)',
    '  let o = attention(x @ wq, x @ wk, x @ wv)',
    '  output loss = mean(o * o)',
    '}',
    ...cases.map(
      (c) =>
        `plan ${attentionCaseName(c)} {\n  model: ${c.task === 'infer' ? 'Infer' : 'Train'}\n` +
        `  bind: { T: ${c.t} }\n  task: ${c.task === 'infer' ? 'infer' : 'train { optimizer: sgd(lr: 0.01) }'}\n` +
        `  attention: ${c.attention}\n}`,
    ),
  ].join('\n');
}
