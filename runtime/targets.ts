/** The targets a plan can be built for: each has a renderer in compiler/targets/ and a session in runtime/. */
export const PLAN_TARGETS = ['wgsl', 'c', 'cuda'] as const;
export type PlanTarget = (typeof PLAN_TARGETS)[number];

/** Kernel file extensions by target. */
export const KERNEL_EXT: Record<PlanTarget, string> = { wgsl: 'wgsl', c: 'c', cuda: 'cu' };
