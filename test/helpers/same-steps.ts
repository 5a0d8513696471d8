import { expect } from 'vitest';
import { webgpuSession } from '../../compiler/cli/trainers.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';
import { sharedGpu } from './gpu.ts';
import type { CpuPlanSession } from '../../compiler/interp/plan-session.ts';
import type { CpuSession } from '../../compiler/interp/session.ts';
import type { Session } from '../../runtime/session.ts';
import { LINKS, plannedMoves } from '../../runtime/tiers.ts';

/** A built plan run on the CPU reference from `want`'s parameters: every output bitwise `want`'s, step by step. */
export function sameCpuSteps(want: CpuSession, got: CpuPlanSession, steps: number): void {
  got.loadParameters(new Map([...want.params].map(([k, v]) => [k, v.data])));
  for (let k = 1; k <= steps; k++) {
    const w = want.run();
    const g = got.run();
    for (const [out, t] of w) expect(Array.from(g.get(out)!), `${out} at step ${k}`).toEqual(Array.from(t.data));
  }
}

/** The same steps on two sessions of one backend (b from a's parameters): every output and parameter bitwise. */
export async function sameSteps(a: Session, b: Session, steps: number): Promise<void> {
  b.loadParameters(await a.parameters());
  for (let k = 1; k <= steps; k++) {
    const want = await a.run();
    const got = await b.run();
    for (const [out, t] of want) expect(Array.from(got.get(out)!), `${out} at step ${k}`).toEqual(Array.from(t));
  }
  const params = await b.parameters();
  for (const [name, t] of await a.parameters()) expect(Array.from(params.get(name)!), name).toEqual(Array.from(t));
}

/** After `steps` steps of a placed plan: the measured GPU peak within `budget`, and bytes per link as planned. */
export function movedAsPlanned(
  b: Pick<Session, 'measuredPeakBytes' | 'plan' | 'tiers'>,
  steps: number,
  budget: number,
): void {
  expect(b.measuredPeakBytes).toBeLessThanOrEqual(budget);
  const moved = plannedMoves(b.plan);
  for (const link of LINKS) expect(b.tiers!.moved[link], link).toBe(steps * moved[link]);
}

/**
 * `want` and `placed` as WebGPU sessions, freed memory poisoned: `steps` steps bitwise alike (sameSteps), then
 * `placed`'s measured GPU peak within `budget` and its bytes per link as planned (movedAsPlanned).
 */
export async function placedOnWebgpu(
  want: { m: Module; config: PlanConfig },
  placed: { m: Module; config: PlanConfig },
  graphs: (g: string) => GraphSpec,
  budget: number,
  steps = 2,
): Promise<void> {
  const gpu = await sharedGpu();
  const a = await webgpuSession(gpu, want.m, want.config, graphs, { poison: true });
  const b = await webgpuSession(gpu, placed.m, placed.config, graphs, { poison: true });
  await sameSteps(a, b, steps);
  movedAsPlanned(b, steps, budget);
  a.destroy();
  b.destroy();
}
