/// <reference types="@webgpu/types" preserve="true" />
/** The runtime's public API: what generated drivers and embedding applications import. */
export { parsePlan, PlanError, type Plan } from './plan.ts';
export type { Session, Tensor } from './session.ts';
export { openSession, type OpenOptions } from './open-session.ts';
export { openGpu, NoGpuError, type Gpu } from './webgpu/device.ts';
export { WebGpuSession, BudgetError, StepTimeLimitError } from './webgpu/session.ts';
export { NativeSession } from './native/session.ts';
export { PoisonError } from './poison.ts';
export { loadBuild, type LoadedBuild } from './build-dir.ts';
