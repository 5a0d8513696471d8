import { describe, expect, it } from 'vitest';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { compile } from '../../compiler/compile.ts';
import { machineOf } from '../../compiler/cost/device.ts';
import { estimateStep } from '../../compiler/cost/step.ts';
import { BudgetInfeasibleError, TierBudgetError } from '../../compiler/passes/checkpoint.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import { copyModule } from '../../compiler/plan-pipeline.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { memorySvg } from '../../compiler/cli/plan-svg.ts';

const MiB = 2 ** 20;
const FIXTURE = 'examples/offload-mlp.flex';

/** The plan under each policy at a GPU budget: its modeled step time and each tier's arena, or why it fails. */
function policies(gpu: number, memory: Partial<PlanConfig['memory']>) {
  const low = compile(FIXTURE, 'unconstrained').lowered!;
  const machine = machineOf(low.hardware!)!;
  const run = (over: Partial<PlanConfig>) => {
    const config = { ...low.config, ...over, memory: { gpu, ...memory } } as PlanConfig;
    try {
      const m = runPipeline(copyModule(low.forward), { config, machine });
      const mem = planMemory(m);
      return {
        seconds: estimateStep(m, config, machine).step_seconds,
        gpu: mem.arenaBytes,
        host: mem.tiers.host.arenaBytes,
        ssd: mem.tiers.ssd.arenaBytes,
        moved: m.values.filter((v) => v.op === 'offload').length,
        recomputed: m.values.filter((v) => v.name?.endsWith('.remat')).length,
      };
    } catch (e) {
      if (e instanceof BudgetInfeasibleError || e instanceof TierBudgetError) return undefined;
      throw e;
    }
  };
  return {
    recompute: run({ placement: 'gpu', checkpoint: 'auto' }),
    host: run({ placement: 'host', checkpoint: 'none' }),
    ssd: run({ placement: 'ssd', checkpoint: 'none' }),
    auto: run({ placement: 'auto', checkpoint: 'auto' }),
  };
}

describe('placement: auto against recompute-only and every activation in one tier (modeled step time)', () => {
  it.each([8, 7, 6])('at %s MiB of GPU with 1 GiB of host: as fast as the best that fits, every budget kept', (b) => {
    const p = policies(b * MiB, { host: 2 ** 30, ssd: 4 * 2 ** 30 });
    expect(p.auto).toBeDefined();
    expect(p.auto!.gpu).toBeLessThanOrEqual(b * MiB);
    expect(p.auto!.host).toBeLessThanOrEqual(2 ** 30);
    for (const other of [p.recompute, p.host, p.ssd])
      if (other && other.gpu <= b * MiB) expect(p.auto!.seconds).toBeLessThanOrEqual(other.seconds * (1 + 1e-9));
    // copies hide behind this GPU's compute and recomputation does not: auto moves instead of recomputing
    expect(p.auto!.moved).toBeGreaterThan(0);
    expect(p.auto!.recomputed).toBe(0);
    if (p.recompute) expect(p.auto!.seconds).toBeLessThan(p.recompute.seconds);
  });

  it('a host budget too small for every activation: auto keeps it and uses the SSD or recomputes for the rest', () => {
    const host = 1.5 * MiB;
    const p = policies(6 * MiB, { host, ssd: 4 * 2 ** 30 });
    expect(p.auto!.gpu).toBeLessThanOrEqual(6 * MiB);
    expect(p.auto!.host).toBeGreaterThan(0);
    expect(p.auto!.host).toBeLessThanOrEqual(host);
    expect(p.auto!.ssd + p.auto!.recomputed).toBeGreaterThan(0);
    const hostOnly = policies(6 * MiB, { host });
    expect(hostOnly.host).toBeUndefined(); // every activation in host memory needs more than 1.5 MiB
    for (const other of [p.recompute, p.ssd])
      if (other) expect(p.auto!.seconds).toBeLessThanOrEqual(other.seconds * (1 + 1e-9));
  });

  it('under checkpoint: none, placement: auto only keeps or moves', () => {
    const low = compile(FIXTURE, 'unconstrained').lowered!;
    const config = {
      ...low.config,
      checkpoint: 'none',
      placement: 'auto',
      memory: { gpu: 6 * MiB, host: 2 ** 30 },
    } as PlanConfig;
    const m = runPipeline(copyModule(low.forward), { config, machine: machineOf(low.hardware!)! });
    expect(planMemory(m).arenaBytes).toBeLessThanOrEqual(6 * MiB);
    expect(m.values.filter((v) => v.op === 'offload').length).toBeGreaterThan(0);
    expect(m.values.filter((v) => v.name?.endsWith('.remat'))).toEqual([]);
  });

  it('without a host or SSD budget, auto recomputes only (the tiers a plan may use are those it budgets)', () => {
    const p = policies(6 * MiB, {});
    expect(p.auto!.moved).toBe(0);
    expect(p.auto!.recomputed).toBeGreaterThan(0);
  });
});

describe('flexc plan reports placement', () => {
  it('where values went, bytes per link, each tier at its peak, and the tiers in the memory picture', () => {
    const r = compile(FIXTURE, 'train');
    const { summary, timeline } = summarize(r.module!, r.lowered!);
    expect(summary.placement).not.toBeNull();
    const p = summary.placement!;
    expect(p.policy).toBe('auto');
    expect(p.values.length).toBeGreaterThan(0);
    expect(p.values.every((v) => v.tier === 'host' && v.kind === 'activation' && v.bytes > 0)).toBe(true);
    const placedBytes = p.values.reduce((a, v) => a + v.bytes, 0);
    expect(p.link_bytes_per_step['gpu→host']).toBeGreaterThanOrEqual(placedBytes);
    expect(p.link_bytes_per_step['host→gpu']).toBeGreaterThanOrEqual(placedBytes);
    expect(summary.memory.host.peak_bytes).toBeGreaterThanOrEqual(placedBytes);
    expect(summary.memory.gpu.arena_bytes).toBeLessThanOrEqual(6 * MiB);
    expect(Math.max(...timeline.tierPoints.map((t) => t.host))).toBe(summary.memory.host.peak_bytes);
    const svg = memorySvg([{ title: 'train', timeline, budget: 6 * MiB, capacity: null }]);
    expect(svg).toContain('host memory (placed)');
    expect(svg).not.toContain('SSD (placed)');
  });
});

describe('flexc plan lists leaves kept in host memory', () => {
  it('GCN-Cora at half its footprint: its inputs and optimizer state in host memory, read back per reader', () => {
    const r = compile('examples/gcn-cora.flex', 'train');
    const config = {
      ...r.lowered!.config,
      checkpoint: 'auto',
      placement: 'auto',
      memory: { gpu: 1.1 * MiB, host: 2 ** 30 },
    } as PlanConfig;
    const m = runPipeline(copyModule(r.lowered!.forward), { config });
    const { summary } = summarize(m, { ...r.lowered!, config });
    const p = summary.placement!;
    const leaves = p.values.filter((v) => v.kind !== 'activation');
    expect(leaves.length).toBeGreaterThan(0);
    expect(leaves.every((v) => v.tier === 'host')).toBe(true);
    const held = leaves.reduce((a, v) => a + v.bytes, 0);
    expect(summary.memory.host.peak_bytes).toBeGreaterThanOrEqual(held);
    expect(p.link_bytes_per_step['host→gpu']).toBeGreaterThanOrEqual(held);
  });
});

describe('a budget no plan meets names what works per tier', () => {
  it('a GPU budget met only with more host memory: FLX4010 names that host memory, and it works', () => {
    const low = compile(FIXTURE, 'unconstrained').lowered!;
    const machine = machineOf(low.hardware!)!;
    const plan = (memory: PlanConfig['memory']) =>
      runPipeline(copyModule(low.forward), {
        config: { ...low.config, checkpoint: 'auto', placement: 'auto', memory } as PlanConfig,
        machine,
      });
    let err: BudgetInfeasibleError | undefined;
    try {
      plan({ gpu: 4.5 * MiB, host: MiB });
    } catch (e) {
      if (!(e instanceof BudgetInfeasibleError)) throw e;
      err = e;
    }
    expect(err?.host).toBeDefined();
    expect(err!.smallest).toBeGreaterThan(4.5 * MiB);
    // the smallest GPU budget named within this host memory works, and so does the host memory named for this one
    expect(planMemory(plan({ gpu: err!.smallest, host: MiB })).arenaBytes).toBeLessThanOrEqual(err!.smallest);
    const m = plan({ gpu: 4.5 * MiB, host: err!.host!.bytes });
    const mem = planMemory(m);
    expect(mem.arenaBytes).toBeLessThanOrEqual(4.5 * MiB);
    expect(mem.tiers.host.arenaBytes).toBeLessThanOrEqual(err!.host!.bytes);
  });
});
