import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeSession, webgpuSession } from '../../compiler/cli/trainers.ts';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { leafName } from '../../compiler/ir/graph.ts';
import { elems } from '../../compiler/ir/op.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import { NF4_BLOCK, NF4_LEVELS, quantizeNf4 } from '../../runtime/nf4.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { relErr } from '../helpers/oracle.ts';

/**
 * QLoRA (Dettmers et al. 2023): `lora: { …, base: nf4 }` stores the frozen base's matmul weights in 4-bit NormalFloat.
 * The levels and the blockwise quantisation against Python (the standard library's inverse normal, numpy), the
 * weights a plan trains with, and the memory it predicts.
 */
const python = (script: string, input = '') => {
  const r = spawnSync('python3', ['-c', script], { input, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as number[];
};

const GPT = 'Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2)';
function tinyGpt(base: string) {
  const path = resolve('examples/_qlora.flex');
  const model = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*plan [\s\S]*$/m, '');
  const task = `finetune { lora: { rank: 4, alpha: 8, targets: [wqkv]${base} }, optimizer: adam(lr: 3e-2) }`;
  const src = `${model}\nplan p {\n  model: ${GPT}\n  bind: { B: 2, T: 8 }\n  task: ${task}\n}\n`;
  const r = compile(path, 'p', {
    read: (p) => (p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined),
  });
  expect(r.diagnostics).toEqual([]);
  return r;
}
const noGraphs = () => {
  throw new Error('no graphs');
};

describe('NF4 storage (QLoRA)', () => {
  it("has QLoRA's levels: 8 normal quantiles above zero and 7 below from offset 0.9677083, zero, scaled to ±1", () => {
    // bitsandbytes' create_normal_map, with Python's NormalDist for scipy's norm.ppf
    const levels = python(`
import json
from statistics import NormalDist
ppf, off = NormalDist().inv_cdf, 0.9677083
space = lambda n: [off + (0.5 - off) * i / (n - 1) for i in range(n)][:-1]
v = sorted([ppf(p) for p in space(9)] + [0.0] + [-ppf(p) for p in space(8)])
print(json.dumps([x / max(v) for x in v]))`);
    expect(levels).toHaveLength(16);
    for (const [i, x] of levels.entries()) expect(NF4_LEVELS[i]).toBeCloseTo(x, 6);
  });

  it('quantises each block of 64 to the nearest level times its absolute maximum, as numpy does', () => {
    const n = 200; // three whole blocks and a short one
    const data = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)) * 0.01);
    const want = python(
      `
import json, sys, numpy as np
x = np.array(json.loads(sys.stdin.read()))
levels = np.array(${JSON.stringify(NF4_LEVELS)})
out = []
for at in range(0, len(x), ${NF4_BLOCK}):
    b = x[at:at + ${NF4_BLOCK}]
    m = np.float32(np.abs(b).max())
    out += list(levels[np.abs(b[:, None] / m - levels[None, :]).argmin(axis=1)] * m)
print(json.dumps([float(v) for v in out]))`,
      JSON.stringify([...data]),
    );
    const got = data.slice();
    quantizeNf4(got);
    expect(relErr(got, want)).toBeLessThan(1e-12);
    // idempotent: stored values stay what they are when stored again (a trained session's parameters reloaded)
    const again = got.slice();
    quantizeNf4(again);
    expect([...again]).toEqual([...got]);
  });

  it('fine-tunes with the base weights on the NF4 grid, on the CPU reference, WebGPU and native C alike', async () => {
    const r = tinyGpt(', base: nf4');
    const m = r.module!;
    const stored = m.values.filter((v) => v.attrs['storage'] === 'nf4').map(leafName);
    // the matmul weights of the frozen base (not the embedding, norms or biases)
    expect(stored.sort()).toEqual(
      [0, 1].flatMap((l) =>
        ['causal_self_attention.wo', 'causal_self_attention.wqkv', 'mlp.w1', 'mlp.w2'].map((w) => `layer.${l}.${w}`),
      ),
    );
    const config = r.lowered!.config;
    const cpu = new CpuSession(m, { seed: config.seed, graphs: noGraphs });
    for (const name of stored) {
      const w = cpu.params.get(name)!.data;
      for (let at = 0; at < w.length; at += NF4_BLOCK) {
        const block = Array.from(w.slice(at, at + NF4_BLOCK));
        const absmax = Math.max(...block.map(Math.abs));
        for (const x of block) expect(NF4_LEVELS.some((l) => Math.abs(l * absmax - x) < 1e-7 * absmax)).toBe(true);
      }
    }
    // the quantised base differs from the bf16-free one by NF4's rounding, and training still lowers the loss
    const plain = new CpuSession(tinyGpt('').module!, { seed: config.seed, graphs: noGraphs });
    const err = relErr(cpu.params.get(stored[0]!)!.data, plain.params.get(stored[0]!)!.data);
    expect(err).toBeGreaterThan(1e-3);
    expect(err).toBeLessThan(0.2);
    const gpu = await sharedGpu();
    const targets = [await webgpuSession(gpu, m, config, noGraphs), nativeSession(TARGETS.c, m, config, noGraphs)];
    const losses: number[] = [];
    for (let step = 1; step <= 30; step++) {
      const want = cpu.run();
      losses.push(want.get('loss')!.data[0]!);
      if (step > 2) continue;
      for (const s of targets) {
        const got = await s.run();
        expect(relErr(got.get('loss')!, want.get('loss')!.data), `${s.constructor.name} step ${step}`).toBeLessThan(
          1e-5,
        );
      }
    }
    for (const s of targets) {
      // each target made the same NF4 weights from the plan's initialisers
      const params = await s.parameters();
      for (const name of stored) expect(relErr(params.get(name)!, cpu.params.get(name)!.data), name).toBeLessThan(1e-6);
      s.destroy();
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.95);
  }, 120_000);

  it('predicts the base weights at 0.5625 bytes per element (Llama 2 7B: 6.61 B of them, 3.5 GiB, not 12.3)', () => {
    const plan = (name: string) => {
      const r = compile(resolve('examples/llama2-7b.flex'), name);
      expect(r.diagnostics).toEqual([]);
      return { r, memory: summarize(r.module!, r.lowered!).summary.memory.gpu };
    };
    const lora = plan('finetune_lora');
    const qlora = plan('finetune_qlora');
    const quantised = qlora.r.module!.values.filter((v) => v.attrs['storage'] === 'nf4');
    const n = quantised.reduce((a, v) => a + elems(v.type), 0);
    // every linear weight of the 32 blocks (4·4096² attention, 3·4096·11008 MLP) and the output head (transformers'
    // QLoRA keeps lm_head in bf16; here the head is a frozen matmul weight like the rest)
    expect(n).toBe(32 * (4 * 4096 * 4096 + 3 * 4096 * 11008) + 4096 * 32000);
    const saved = lora.memory.parameters - qlora.memory.parameters;
    expect(saved).toBeCloseTo(n * (2 - 0.5625), -3);
    expect(qlora.memory.peak_bytes).toBeLessThan(lora.memory.peak_bytes - 8 * 2 ** 30);
  });
});
