import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { roundBf16, roundF16 } from '../../compiler/ir/ops/cast.ts';
import { masterOf } from '../../compiler/passes/precision.ts';
import { OPTIMIZER_OPS } from '../../compiler/ir/ops/optimizer.ts';

function tinyGpt(precision: string) {
  const path = resolve('examples/_precision.flex');
  const model = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*plan [\s\S]*$/m, '');
  const src =
    `${model}\nplan p {\n  model: Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2)\n  bind: { B: 2, T: 8 ` +
    `}\n  task: train { optimizer: adamw(lr: 1e-2, weight_decay: 0.1) }\n  precision: ${precision}\n}\n`;
  const r = compile(path, 'p', {
    read: (p) => (p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined),
  });
  expect(r.diagnostics).toEqual([]);
  return r.module!;
}

describe('precision', () => {
  it('rounds to bfloat16 and IEEE half to nearest even, as the hardware stores them', () => {
    expect(roundBf16(1 + 2 ** -8)).toBe(1); // a tie: to even
    expect(roundBf16(1 + 3 * 2 ** -8)).toBe(1 + 2 ** -6);
    // biome-ignore lint/suspicious/noApproximativeNumericConstant: a value near π on purpose
    expect(roundBf16(3.14159)).toBe(3.140625);
    expect(roundF16(1 + 2 ** -11)).toBe(1); // a tie: to even
    expect(roundF16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundF16(65504)).toBe(65504);
    expect(roundF16(70000)).toBe(Infinity);
    expect(roundF16(2 ** -24)).toBe(2 ** -24); // the smallest subnormal
  });

  it(
    'bf16 and fp16 plans compute in half precision with fp32 ' +
      'master weights and Adam state: 16 bytes per parameter',
    () => {
      for (const p of ['bf16', 'fp16']) {
        const m = tinyGpt(p);
        const half = p === 'bf16' ? 'bf16' : 'f16';
        const params = m.values.filter((v) => v.op === 'param');
        expect(params.every((v) => v.type.dtype === half)).toBe(true);
        const names = new Set(m.values.filter((v) => v.op === 'state').map((v) => String(v.attrs['name'])));
        for (const v of params)
          for (const s of [
            masterOf(String(v.attrs['name'])),
            `${String(v.attrs['name'])}.adam_m`,
            `${String(v.attrs['name'])}.adam_v`,
          ])
            expect(names.has(s), s).toBe(true);
        const floats = m.values.filter(
          (v) =>
            v.op !== 'state' &&
            v.type.dtype[0] !== 'i' &&
            !m.updates.some((u) => u.value === v && u.target.endsWith('.master')),
        );
        const f32 = floats.filter((v) => v.type.dtype === 'f32' && !OPTIMIZER_OPS.has(v.op));
        expect(f32.map((v) => `${v.op} ${v.name}`)).toEqual([]);
      }
    },
  );

  it('a mixed-precision step trains like fp32: the loss tracks fp32 within bf16 rounding and falls', () => {
    const runs = ['fp32', 'bf16'].map((p) => {
      const s = new CpuSession(tinyGpt(p), {
        seed: 3,
        graphs: () => {
          throw new Error('no graphs');
        },
      });
      return Array.from({ length: 30 }, () => s.run().get('loss')!.data[0]!);
    });
    const [f32, bf16] = runs as [number[], number[]];
    expect(Math.abs(bf16[0]! - f32[0]!)).toBeLessThan(0.02 * f32[0]!);
    expect(bf16.at(-1)!).toBeLessThan(bf16[0]! * 0.8);
    expect(Math.abs(bf16.at(-1)! - f32.at(-1)!)).toBeLessThan(0.2 * f32.at(-1)!); // bf16 keeps 8 bits of mantissa
  });
});
