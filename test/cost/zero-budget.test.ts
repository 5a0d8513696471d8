import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';

const GiB = 2 ** 30;
const file = 'examples/llama2-7b.flex';

function plan(name: string, source?: string) {
  const path = resolve(file);
  const r = compile(
    path,
    name,
    source
      ? { read: (p) => (p === path ? source : p.startsWith(resolve('stdlib')) ? readFileSync(p, 'utf8') : undefined) }
      : {},
  );
  return r;
}

describe('a GPU budget under data parallelism bounds one rank (ZeRO shards, not the whole model)', () => {
  it('Llama 2 7B, ZeRO-2 over 8 A800s, 40 GiB per GPU: auto fits it with less ' +
    'recompute than full recomputation; one GPU holding everything would need more', () => {
    const r = plan('pretrain_zero2_auto');
    expect(r.diagnostics).toEqual([]);
    const s = summarize(r.module!, r.lowered!).summary;
    const g = s.memory.gpu;
    expect(s.budget_bytes).toBe(40 * GiB);
    expect(g.checkpointing!.measured).toBe('per-gpu');
    expect(g.checkpointing!.bytes_with).toBe(g.peak_bytes); // what the pass bounded is what the report prints
    expect(g.peak_bytes).toBeLessThanOrEqual(40 * GiB);
    expect(g.checkpointing!.bytes_without).toBeGreaterThan(40 * GiB);
    expect(g.arena_bytes).toBeGreaterThan(40 * GiB); // the unsharded single-GPU arena could never meet it

    const all = plan('pretrain_zero2');
    const sAll = summarize(all.module!, all.lowered!).summary;
    expect(s.flops.recompute).toBeGreaterThan(0);
    expect(s.flops.recompute).toBeLessThan(sAll.flops.recompute);
  }, 120_000);

  it('a per-GPU budget below what full recomputation needs is FLX4010, ' +
    'naming a smallest budget no larger than full recomputation', () => {
    const source = readFileSync(file, 'utf8').replace('memory: { gpu: 40 GiB }', 'memory: { gpu: 20 GiB }');
    const r = plan('pretrain_zero2_auto', source);
    expect(r.diagnostics.map((d) => d.code)).toEqual(['FLX4010']);
    const smallest = Number(/the smallest budget that works is (\d+) bytes/.exec(r.diagnostics[0]!.message)![1]);
    const all = plan('pretrain_zero2');
    const allPeak = summarize(all.module!, all.lowered!).summary.memory.gpu.peak_bytes;
    expect(smallest).toBeGreaterThan(20 * GiB);
    expect(smallest).toBeLessThanOrEqual(allPeak);
    const fits = plan(
      'pretrain_zero2_auto',
      source.replace('memory: { gpu: 20 GiB }', `memory: { gpu: ${smallest} B }`),
    );
    expect(fits.diagnostics).toEqual([]);
    expect(summarize(fits.module!, fits.lowered!).summary.memory.gpu.peak_bytes).toBeLessThanOrEqual(smallest);
  }, 180_000);
});
