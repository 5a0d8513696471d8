/** The MoE layer bench/moe.ts and the GPU check measure: d 512, hidden 2048, GeLU experts, capacity factor 1.25. */
export interface MoeCase {
  t: number;
  e: number;
  k: number;
  fused: boolean;
  task: 'infer' | 'train';
}

export const moeCaseName = (c: MoeCase) => `${c.task}_t${c.t}_e${c.e}_k${c.k}_${c.fused ? 'fused' : 'ops'}`;

/** A .flex source with a plan per case: the layer alone (infer), or under a loss (train, SGD); no balance loss. */
export function moeLayerSource(cases: MoeCase[]): string {
  const plans = cases.map(
    (c) => `plan ${moeCaseName(c)} {
  model: ${c.task === 'train' ? 'Trained' : 'Layer'}(experts: ${c.e}, k: ${c.k})
  bind: { T: ${c.t} }
  task: ${c.task === 'train' ? 'train { optimizer: sgd(lr: 0.01) }' : 'infer'}
${c.fused ? '  fuse: [moe]\n' : ''}}`,
  );
  return `import { MoE } from "std/nn"

model Layer(d: 512, hidden: 2048, experts: 8, k: 2) {
  input x: f32[T, d]
  output y = MoE(x, experts: experts, k: k, hidden: hidden, balance: 0.0)
}

model Trained(d: 512, hidden: 2048, experts: 8, k: 2) {
  input x: f32[T, d]
  output loss = mean(MoE(x, experts: experts, k: k, hidden: hidden, balance: 0.0) * x)
}

${plans.join('\n\n')}
`;
}
