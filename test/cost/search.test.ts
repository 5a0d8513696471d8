import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { type Candidate, evaluatePartition, searchPartitions } from '../../compiler/cost/search.ts';
import { selectPlan } from '../../compiler/lower/lower.ts';
import { checkFile } from '../../compiler/sema/check.ts';

/**
 * `parallel: auto` on Megatron's Selene rows (test/cost/megatron.test.ts cites them): the search's figures for the
 * published partition agree with `flexc plan`'s for it (the search costs L layers from a two-layer profile compiled
 * through the same passes and cost model), and the partition it finds is at least as fast as the published one by
 * those figures.
 */
const gpt = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*hardware [\s\S]*$/m, '');

function rowSource(heads: number, h: number, l: number, gpus: number, batch: number, parallel: string) {
  return `${gpt}
import { a100_80g } from "std/hardware"
hardware Selene {
  gpu x ${gpus}: a100_80g
  node { gpus: 8, topology: nvswitch, bandwidth: 300 GB/s, latency: 5 us }
  network { topology: infiniband, bandwidth: 25 GB/s, latency: 10 us }
}
plan row {
  model: Gpt(vocab: 51200, ctx: 2048, d: ${h}, heads: ${heads}, depth: ${l})
  on: Selene
  bind: { T: 2048 }
  batch: { global: ${batch}${parallel === 'auto' ? '' : ', micro: 1'} }
  task: train { optimizer: adam(lr: 1e-4) }
  precision: fp16
  fuse: [elementwise]
  checkpoint: all
  parallel: ${parallel}
}
`;
}

const ROWS = [
  // [billions, heads, hidden, layers, tensor, pipeline, GPUs, batch]
  [18.4, 48, 6144, 40, 8, 1, 256, 1024],
  [39.1, 64, 8192, 48, 8, 2, 512, 1536],
] as const;

describe('parallel: auto on Megatron’s rows', () => {
  for (const [b, heads, h, l, tp, pp, gpus, batch] of ROWS)
    it(`${b}B on ${gpus} GPUs: its figures for the published partition are flexc plan’s; it finds one as fast`, () => {
      const path = resolve(`examples/_search_${b}.flex`);
      const schedule = pp > 1 ? ', schedule: 1f1b' : '';
      const published = `{ tensor: ${tp}, pipeline: ${pp}, data: ${gpus / (tp * pp)}${schedule} }`;
      const src = rowSource(heads, h, l, gpus, batch, published);
      const read = (p: string) => (p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined);
      const r = compile(path, 'row', { read });
      expect(r.diagnostics).toEqual([]);
      const { summary: s } = summarize(r.module!, r.lowered!);
      const { program, plans } = checkFile(path, { read });
      const decl = selectPlan(program, 'row').plan!;
      const c: Candidate = {
        tensor: tp,
        sequence: false,
        pipeline: pp,
        data: gpus / (tp * pp),
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
    const path = resolve('examples/_search_auto.flex');
    const src = rowSource(32, 4096, 8, 64, 256, 'auto');
    const r = compile(path, 'row', {
      read: (p) => (p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined),
    });
    expect(r.diagnostics).toEqual([]);
    const best = r.search!.best[0]!.candidate;
    const { parallel, batch, checkpoint } = r.lowered!.config;
    expect(parallel).toMatchObject({ tensor: best.tensor, pipeline: best.pipeline, data: best.data, zero: best.zero });
    expect(batch).toEqual({ global: 256, micro: best.micro });
    expect(checkpoint).toBe(best.checkpoint);
    expect(parallel.auto).toBeUndefined();
  }, 120_000);
});
