import { planConfigOf, type PlanConfig } from '../../compiler/sema/plan.ts';

/** A plan's settings for tests that build modules by hand: one GPU, fp32, no checkpointing, then `over`. */
export const planConfig = (over: Record<string, unknown> = {}): PlanConfig => planConfigOf({ name: 'test', ...over });

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
