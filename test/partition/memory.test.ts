import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { memoryTimeline } from '../../compiler/cost/memory.ts';
import { pipelineMemory } from '../../compiler/cost/pipeline.ts';
import { runRanks } from '../../compiler/interp/interpret.ts';
import {
  dataGroups,
  dataIndex,
  pipeIndex,
  rankCount,
  rankGroups,
  type RankLayout,
  shardParams,
} from '../../compiler/interp/ranks.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { stagesOf } from '../../compiler/ir/stages.ts';

const FILE = 'test/partition/models.flex';

/**
 * The memory `flexc plan` predicts for each GPU of a partitioned plan is what that GPU holds when its rank runs: the
 * simulated ranks count the bytes of the arrays they hold — fed inputs, parameters and state throughout, each value
 * from its computation to its last use, what a pipeline stage receives from when it arrives — and their peak is the
 * model's, to the byte. (One micro-batch a step: the simulator runs a pipeline's micro-batches one after another,
 * where 1F1B would keep up to P − p of them in flight; the model's count of those is checked in the cost tests.)
 */
describe('per-device memory: predicted = measured on the simulated ranks', () => {
  for (const [plan, layout, onePlan] of [
    ['classifier_tp2', { tensor: 2 }],
    ['gpt_tp2', { tensor: 2 }],
    ['gpt_tp2_sp', { tensor: 2 }],
    ['gpt_pp2', { tensor: 1, pipeline: 2 }],
    ['gpt_tp2_pp2', { tensor: 2, pipeline: 2 }],
    ['gpt12_tp2', { tensor: 2 }],
    // serving: the prompt's pass over two stages, each rank its layers' weights and KV cache
    ['gpt_serve_pp2', { tensor: 1, pipeline: 2 }],
    // checkpoint: auto under memory.gpu: 70 KiB, which bounds each rank (the whole program needs 120 KiB)
    ['gpt4_pp2_budget', { tensor: 1, pipeline: 2 }, 'gpt4_b2'],
  ] as [string, RankLayout, string?][])
    it(`${plan}: every rank's peak bytes`, () => {
      const one = compile(FILE, onePlan ?? plan.replace(/_(tp2|pp2|sp)/g, ''));
      const par = compile(FILE, plan);
      expect(par.diagnostics).toEqual([]);
      const r = par.module!;
      const config = par.lowered!.config;
      const st = stagesOf(r);
      const predicted = st
        ? pipelineMemory(r, st, config).map((x) => x.peak_bytes)
        : [memoryTimeline(r, config).gpu.peak_bytes];
      const session = new CpuSession(one.module!, { seed: 0, graphs: graphResolver(one.program) });
      const feeds = session.feeds(one.module!, 1);
      const ranks = [...Array(rankCount(layout)).keys()].map((k) => ({
        feeds,
        params: shardParams(r, session.params, layout, k),
      }));
      const got = runRanks(r, ranks, rankGroups(layout), { step: 1, layout, measure: true });
      for (const [k, g] of got.entries()) expect(g.peakBytes, `rank ${k}`).toBe(predicted[pipeIndex(layout, k)]);
      const budget = config.memory.gpu;
      if (budget !== undefined) {
        for (const g of got) expect(g.peakBytes).toBeLessThanOrEqual(budget);
        expect(memoryTimeline(r, config).gpu.peak_bytes).toBeGreaterThan(budget);
      }
    });

  it('moe_cls_ep2 (data 4, the experts over groups of 2): every rank’s peak bytes', () => {
    const par = compile(FILE, 'moe_cls_ep2');
    const r = par.module!;
    const predicted = memoryTimeline(r, par.lowered!.config).gpu.peak_bytes;
    const session = new CpuSession(r, { seed: 0, data: 4, graphs: graphResolver(par.program) });
    const layout = session.layout;
    expect(layout).toMatchObject({ data: 4, expert: 2 });
    const ranks = session.ranks.map((params, k) => ({ feeds: session.feeds(r, 1, dataIndex(layout, k)), params }));
    const got = runRanks(r, ranks, rankGroups(layout), {
      step: 1,
      layout,
      dataGroups: dataGroups(layout),
      measure: true,
    });
    for (const [k, g] of got.entries()) expect(g.peakBytes, `rank ${k}`).toBe(predicted);
  });
});
