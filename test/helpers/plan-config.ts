import { PlanConfig } from '../../compiler/sema/plan.ts';

/** A plan's settings for tests that build modules by hand: one GPU, fp32, no checkpointing, then `over`. */
export function planConfig(over: Record<string, unknown> = {}): PlanConfig {
  return PlanConfig.parse({
    name: 'test',
    model: 'M',
    modelArgs: {},
    bind: {},
    memory: {},
    checkpoint: 'none',
    placement: 'auto',
    fuse: [],
    target: 'wgsl',
    precision: 'fp32',
    parallel: { data: 1, zero: 0, offload: [] },
    seed: 0,
    steps: 1,
    ...over,
  });
}

/** A training task on output `loss`: SGD, or Adam with PyTorch's defaults. */
export const trainTask = (kind: 'sgd' | 'adam', lr = 0.1) => ({
  kind: 'train',
  loss: 'loss',
  optimizer: {
    kind,
    lr,
    beta1: kind === 'adam' ? 0.9 : 0,
    beta2: kind === 'adam' ? 0.999 : 0,
    eps: 1e-8,
    weightDecay: [],
  },
});
