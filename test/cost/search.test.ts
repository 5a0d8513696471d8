import { describe, expect, it } from 'vitest';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { type Candidate, evaluatePartition, searchPartitions } from '../../compiler/cost/search.ts';
import { selectPlan } from '../../compiler/lower/lower.ts';
import { checkFile } from '../../compiler/sema/check.ts';
import { compile } from '../../compiler/compile.ts';
import { compileSelene, published } from './selene.ts';

/**
 * `parallel: auto` on Megatron's Selene rows (test/cost/megatron.test.ts cites them): the search's figures for the
 * published partition agree with `flexc plan`'s for it (the search costs L layers from a two-layer profile compiled
 * through the same passes and cost model), and the partition it finds is at least as fast as the published one by
 * those figures.
 */
const ROWS = [
  // [billions, heads, hidden, layers, tensor, pipeline, GPUs, batch]
  [18.4, 48, 6144, 40, 8, 1, 256, 1024],
  [39.1, 64, 8192, 48, 8, 2, 512, 1536],
] as const;

describe('parallel: auto on Megatron’s rows', () => {
  for (const [b, heads, h, l, tp, pp, gpus, batch] of ROWS)
    it(`${b}B on ${gpus} GPUs: its figures for the published partition are flexc plan’s; it finds one as fast`, () => {
      const row = { heads, hidden: h, layers: l, gpus, batch, parallel: published(tp, pp, gpus) };
      const { path, read, result: r } = compileSelene(row, `s${b}`);
      expect(r.diagnostics).toEqual([]);
      const { summary: s } = summarize(r.module!, r.lowered!);
      const { program, plans } = checkFile(path, { read });
      const decl = selectPlan(program, 'row').plan!;
      const c: Candidate = {
        tensor: tp,
        sequence: false,
        pipeline: pp,
        data: gpus / (tp * pp),
        expert: 1,
        zero: 0,
        micro: 1,
        checkpoint: 'all',
        schedule: { kind: '1f1b', chunks: 1 },
      };
      const e = evaluatePartition(program, decl, plans.get(decl)!, c)!;
      expect(Math.abs(e.step_seconds / s.time!.step_seconds - 1), `${e.step_seconds} s`).toBeLessThan(0.15);
      expect(Math.abs(e.peak_bytes / s.memory.gpu.peak_bytes - 1), `${e.peak_bytes} B`).toBeLessThan(0.15);
      const found = searchPartitions(program, decl, plans.get(decl)!)!;
      const best = found.best[0]!;
      expect(best.fits).toBe(true);
      expect(best.step_seconds).toBeLessThanOrEqual(e.step_seconds);
      // every partition tried is the best, or lost for one reason
      expect(Object.values(found.lost).reduce((a, n) => a + n, 0)).toBe(found.considered - 1);
      for (const x of found.best) expect(x.candidate.tensor * x.candidate.pipeline * x.candidate.data).toBe(gpus);
    }, 120_000);

  it('compiles the partition it chose: parallel: auto becomes the fastest partition’s settings', () => {
    const r = compileSelene(
      { heads: 32, hidden: 4096, layers: 8, gpus: 64, batch: 256, parallel: 'auto' },
      'auto',
    ).result;
    expect(r.diagnostics).toEqual([]);
    const best = r.search!.best[0]!.candidate;
    const { parallel, batch, checkpoint } = r.lowered!.config;
    expect(parallel).toMatchObject({ tensor: best.tensor, pipeline: best.pipeline, data: best.data, zero: best.zero });
    expect(batch).toEqual({ global: 256, micro: best.micro });
    expect(checkpoint).toBe(best.checkpoint);
    expect(parallel.auto).toBeUndefined();
  }, 120_000);
});

describe('parallel: auto on a mixture of experts (examples/switch-moe.flex: 64 experts a layer on 8 A100s)', () => {
  const FILE = 'examples/switch-moe.flex';
  it('its figures for the example’s expert-parallel partition are flexc plan’s; it finds one as fast', () => {
    const r = compile(FILE, 'train');
    expect(r.diagnostics).toEqual([]);
    const { summary: s } = summarize(r.module!, r.lowered!);
    const { program, plans } = checkFile(FILE);
    const auto = selectPlan(program, 'train_auto').plan!;
    // the `train` plan's partition: data 8, every layer's experts over all eight, a micro-batch of 8 sequences
    const c: Candidate = {
      tensor: 1,
      sequence: false,
      pipeline: 1,
      data: 8,
      expert: 8,
      zero: 0,
      micro: 8,
      checkpoint: 'none',
      schedule: { kind: '1f1b', chunks: 1 },
    };
    const e = evaluatePartition(program, auto, plans.get(auto)!, c)!;
    expect(Math.abs(e.step_seconds / s.time!.step_seconds - 1), `${e.step_seconds} s`).toBeLessThan(0.15);
    expect(Math.abs(e.peak_bytes / s.memory.gpu.peak_bytes - 1), `${e.peak_bytes} B`).toBeLessThan(0.15);
    const chosen = compile(FILE, 'train_auto');
    const found = chosen.search!;
    expect(found.best[0]!.step_seconds).toBeLessThanOrEqual(e.step_seconds);
    // expert parallelism is searched: over groups of 1, 2, 4 and 8 replicas
    const groups = new Set(found.best.map((x) => x.candidate.expert));
    expect(groups.size).toBeGreaterThan(1);
    expect(chosen.lowered!.config.parallel.expert).toBe(found.best[0]!.candidate.expert);
    expect(chosen.module!.values.some((v) => v.op === 'ep_all_to_all')).toBe(found.best[0]!.candidate.expert > 1);
  }, 120_000);
});
