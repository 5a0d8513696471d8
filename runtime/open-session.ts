import type { LoadedBuild } from './build-dir.ts';
import { NativeSession } from './native/session.ts';
import { PlanError } from './plan.ts';
import type { Session } from './session.ts';
import { openGpu, type Gpu } from './webgpu/device.ts';
import { WebGpuSession } from './webgpu/session.ts';

export interface OpenOptions {
  /** The WebGPU device for a WGSL plan (opened with openGpu() when not given); native plans need none. */
  gpu?: Gpu;
  /** Fail when the plan's arena needs more bytes than this. */
  budgetBytes?: number;
  /** Poison freed ranges and fail a step that reads one (default: FLEXC_POISON=1). */
  poison?: boolean;
  /** WGSL plans: fail a step that the device has not finished after this many seconds. */
  timeLimitSeconds?: number;
}

/** Opens a session for a loaded build on its target: WebGPU for WGSL, the plan's compiled library for C and CUDA. */
export async function openSession(b: LoadedBuild, opts: OpenOptions = {}): Promise<Session> {
  const common = {
    graphs: b.graphs,
    text: b.text,
    ...(opts.budgetBytes !== undefined ? { budgetBytes: opts.budgetBytes } : {}),
    ...(opts.poison !== undefined ? { poison: opts.poison } : {}),
  };
  if (b.plan.target === 'wgsl')
    return WebGpuSession.create(opts.gpu ?? (await openGpu()), b.plan, b.sources, {
      ...common,
      ...(opts.timeLimitSeconds !== undefined ? { timeLimitSeconds: opts.timeLimitSeconds } : {}),
    });
  if (!b.library) throw new PlanError(`plan \`${b.plan.name}\` (target ${b.plan.target}) names no library`);
  return NativeSession.create(b.plan, b.library, common);
}
