import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuPlanSession } from '../../compiler/interp/plan-session.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import { copyModule } from '../../compiler/plan-pipeline.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';
import { LINKS, plannedMoves } from '../../runtime/tiers.ts';
import { nativeSession, webgpuSession } from '../../compiler/cli/trainers.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { placedOnWebgpu, sameCpuSteps, sameSteps } from '../helpers/same-steps.ts';

const spill = mkdtempSync(join(tmpdir(), 'flexc-tiers-test-'));
afterAll(() => rmSync(spill, { recursive: true, force: true }));

function setup(file: string, plan: string, over: Partial<PlanConfig>) {
  const r = compile(file, plan);
  const cfg = { ...r.lowered!.config, ...over } as PlanConfig;
  const m = runPipeline(copyModule(r.lowered!.forward), { config: cfg });
  const graphs = graphResolver(r.program);
  const text = cfg.data ? { file: cfg.data.file, split: cfg.data.split } : undefined;
  return { unconstrained: r.module!, m, graphs, text, plan: buildPlan(m, cfg, {}).plan };
}

describe('activations placed in host memory and on the SSD', () => {
  it.each([
    ['examples/mlp.flex', 'small', 'host'],
    ['examples/mlp.flex', 'small', 'ssd'],
    ['examples/gcn-cora.flex', 'train', 'host'],
    ['examples/gpt.flex', 'tiny', 'ssd'],
    ['examples/gcn-sbm.flex', 'train', 'host'],
  ] as const)('%s --plan %s, placement: %s: bitwise the unconstrained step for 3 steps', (file, name, tier) => {
    const s = setup(file, name, { placement: tier });
    expect(s.m.values.filter((v) => v.op === 'offload').length).toBeGreaterThan(0);
    expect(s.plan.arenas[tier]).toBeGreaterThan(0);
    const want = new CpuSession(s.unconstrained, { seed: 0, graphs: s.graphs, text: s.text });
    const got = new CpuPlanSession(s.m, s.plan, { graphs: s.graphs, text: s.text }, true, spill);
    sameCpuSteps(want, got, 3);
    const moved = plannedMoves(s.plan);
    expect(got.tiers!.moved['gpu→host']).toBe(3 * moved['gpu→host']);
    expect(got.tiers!.moved['host→gpu']).toBe(3 * moved['host→gpu']);
    expect(got.tiers!.moved['host→ssd']).toBe(3 * moved['host→ssd']);
    expect(got.tiers!.moved['ssd→host']).toBe(3 * moved['ssd→host']);
    expect(moved[tier === 'ssd' ? 'host→ssd' : 'gpu→host']).toBeGreaterThan(0);
    expect(got.tiers!.peakBytes[tier]).toBeLessThanOrEqual(s.plan.arenas[tier]!);
    if (tier === 'ssd') expect(readdirSync(spill).length).toBe(1);
    got.destroy();
    expect(readdirSync(spill)).toEqual([]);
  });
});

describe('placement: auto at a fraction of the footprint of the GNN examples (host memory budgeted)', () => {
  it.each([
    ['examples/gcn-cora.flex', 'train', 0.5],
    ['examples/sage-cora.flex', 'train', 0.5],
    // GAT's backward gradients wait in host memory too (a branch's while the other's are computed)
    ['examples/gat-cora.flex', 'train', 0.5],
    ['test/examples/fixtures/gat-sbm.flex', 'train', 0.55],
  ] as const)(
    '%s --plan %s at %s of it: fits, bitwise the unconstrained step on the CPU reference and on WebGPU',
    async (file, name, fraction) => {
      const r = compile(file, name);
      const full = buildPlan(r.module!, r.lowered!.config, {}).plan.arenas.gpu;
      const budget = Math.floor(full * fraction);
      const s = setup(file, name, { checkpoint: 'auto', placement: 'auto', memory: { gpu: budget, host: 2 ** 30 } });
      expect(s.plan.arenas.gpu).toBeLessThanOrEqual(budget);
      const want = new CpuSession(s.unconstrained, { seed: 0, graphs: s.graphs });
      const got = new CpuPlanSession(s.m, s.plan, { graphs: s.graphs }, true, spill);
      sameCpuSteps(want, got, 2);
      got.destroy();
      const cfg = { ...r.lowered!.config, checkpoint: 'auto' as const, placement: 'auto' as const };
      await placedOnWebgpu(
        { m: s.unconstrained, config: r.lowered!.config },
        { m: s.m, config: { ...cfg, memory: { gpu: budget, host: 2 ** 30 } } },
        s.graphs,
        budget,
      );
    },
    120_000,
  );
});

describe.each([
  ['examples/gcn-cora.flex', 'train', 'host'],
  ['examples/gpt.flex', 'tiny', 'ssd'],
] as const)('%s --plan %s, placement: %s, on the kernel backends', (file, name, tier) => {
  const open = () => setup(file, name, { placement: tier });

  it('WebGPU (poisoned): bitwise the unplaced plan, GPU arena no larger, bytes per link as planned', async () => {
    const s = open();
    const gpu = await sharedGpu();
    const cfg = compile(file, name).lowered!.config;
    const a = await webgpuSession(gpu, s.unconstrained, cfg, s.graphs, { poison: true });
    const b = await webgpuSession(gpu, s.m, { ...cfg, placement: tier }, s.graphs, { poison: true });
    await sameSteps(a, b, 2);
    expect(b.plan.arenas.gpu).toBeLessThanOrEqual(a.plan.arenas.gpu);
    expect(b.measuredPeakBytes).toBeLessThanOrEqual(b.plan.arenas.gpu);
    const moved = plannedMoves(b.plan);
    for (const link of LINKS) expect(b.tiers!.moved[link], link).toBe(2 * moved[link]);
    expect(b.tiers!.peakBytes[tier]).toBeLessThanOrEqual(b.plan.arenas[tier]!);
    a.destroy();
    b.destroy();
  }, 120_000);

  it('native C (poisoned): bitwise the unplaced plan', async () => {
    const s = open();
    const cfg = compile(file, name).lowered!.config;
    const a = nativeSession(TARGETS.c, s.unconstrained, cfg, s.graphs, { poison: true });
    const b = nativeSession(TARGETS.c, s.m, { ...cfg, placement: tier }, s.graphs, { poison: true });
    expect(b.plan.steps.some((st) => st.kind === 'copy')).toBe(true);
    await sameSteps(a, b, 2);
    // the library counts the bytes each link carries as its copies run
    const moved = plannedMoves(b.plan);
    for (const link of LINKS) expect(b.tiers!.moved[link], link).toBe(2 * moved[link]);
    expect(b.tiers!.peakBytes[tier]).toBeGreaterThan(0);
    a.destroy();
    b.destroy();
  }, 300_000);
});
