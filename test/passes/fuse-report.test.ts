import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { humanReport } from '../../compiler/cli/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { CpuSession } from '../../compiler/interp/session.ts';

/** gpt.flex's model, tiny, in `precision` with `fuse`, and what --print-after fuse-elementwise prints. */
function tinyGpt(precision: string, fuse: string) {
  const path = resolve('examples/_fuse.flex');
  const model = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*plan [\s\S]*$/m, '');
  const src =
    `${model}\nplan p {\n  model: Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2)\n  bind: { B: 2, T: 8 }\n` +
    `  task: train { optimizer: adamw(lr: 1e-2, weight_decay: 0.1) }\n  precision: ${precision}\n` +
    `${fuse ? `  fuse: [${fuse}]\n` : ''}}\n`;
  const printed: string[] = [];
  const r = compile(path, 'p', {
    read: (p) => (p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined),
    printAfter: 'fuse-elementwise',
    onPrint: (header) => printed.push(header),
  });
  expect(r.diagnostics).toEqual([]);
  return { r, printed: printed.join('\n') };
}

const kernels = (r: ReturnType<typeof tinyGpt>['r']) => r.module!.values.filter((v) => v.op === 'fused').length;

describe('fuse: [elementwise] in every float precision', () => {
  it.each(['bf16', 'fp16'])('fuses a %s plan as it fuses fp32, and computes the same step within its rounding', (p) => {
    const half = tinyGpt(p, 'elementwise');
    const full = tinyGpt('fp32', 'elementwise');
    expect(kernels(half.r)).toBeGreaterThan(10);
    expect(kernels(half.r)).toBe(kernels(full.r));
    const plain = tinyGpt(p, '');
    expect(half.r.module!.values.length).toBeLessThan(plain.r.module!.values.length);
    // the fused kernels round once, at their store, where the ops rounded each result: the same losses, to bf16's
    // 8 bits (fp16's 11) over a step's worth of roundings
    const run = (x: typeof half) =>
      new CpuSession(x.r.module!, {
        seed: 1,
        graphs: () => {
          throw new Error('no graphs');
        },
      });
    const [a, b] = [run(half), run(plain)];
    for (let step = 0; step < 3; step++) {
      const [la, lb] = [a.run().get('loss')!.data[0]!, b.run().get('loss')!.data[0]!];
      expect(Math.abs(la - lb) / Math.abs(lb)).toBeLessThan(p === 'bf16' ? 2e-2 : 5e-3);
    }
  });

  it('says in --print-after what it fused and what it left apart, and why', () => {
    const { printed } = tinyGpt('bf16', 'elementwise');
    expect(printed).toMatch(/\/\/ note: \d+ kernels in place of \d+ elementwise ops; not fused into their reader: \d+/);
  });
});

describe('flexc plan says what `fuse` fused, or that there was nothing to fuse', () => {
  it('elementwise ops and kernels; moe with no MoE layer: nothing to fuse', () => {
    const { r } = tinyGpt('bf16', 'elementwise, moe');
    const { summary } = summarize(r.module!, r.lowered!);
    expect(summary.fusion!.elementwise!.kernels).toBe(kernels(r));
    expect(summary.fusion!.elementwise!.ops).toBeGreaterThan(summary.fusion!.elementwise!.kernels);
    expect(summary.fusion!.moe).toEqual({ fused: 0, layers: 0 });
    expect(humanReport(summary)).toMatch(/fusion {6}elementwise: [\d,]+ ops in \d+ kernels; moe: nothing to fuse/);
  });

  it('a MoE layer fused: one kernel each way; no `fuse`: no line', () => {
    const r = compile('test/moe/fixtures/moe-mlp.flex', 'top2_fused');
    expect(humanReport(summarize(r.module!, r.lowered!).summary)).toMatch(
      /fusion {6}moe: 1 layer, one kernel each way/,
    );
    const plain = compile('test/moe/fixtures/moe-mlp.flex', 'top2');
    const { summary } = summarize(plain.module!, plain.lowered!);
    expect(summary.fusion).toBeNull();
    expect(humanReport(summary)).not.toMatch(/fusion/);
  });
});
