import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { leafName } from '../../compiler/ir/graph.ts';
import { loraA, loraB } from '../../compiler/passes/lora.ts';

const GPT = 'Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2)';
const LORA = 'lora: { rank: 4, alpha: 8, targets: [wqkv, "layer.*.mlp.w2"] }';

function tinyGpt(task: string, extra = '') {
  const path = resolve('examples/_lora.flex');
  const model = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*plan [\s\S]*$/m, '');
  const src = `${model}\nplan p {\n  model: ${GPT}\n  bind: { B: 2, T: 8 }\n  task: ${task}\n${extra}}\n`;
  return compile(path, 'p', { read: (p) => (p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined) });
}
const session = (task: string) => {
  const r = tinyGpt(task);
  expect(r.diagnostics).toEqual([]);
  return new CpuSession(r.module!, {
    seed: 5,
    graphs: () => {
      throw new Error('no graphs');
    },
  });
};
const finetune = `finetune { ${LORA}, optimizer: adam(lr: 3e-2) }`;

describe('LoRA fine-tuning', () => {
  it("starts from the base model: the first loss equals full training's, bit for bit (B = 0)", () => {
    const lora = session(finetune).run().get('loss')!.data[0];
    const full = session('train { optimizer: adam(lr: 3e-2) }').run().get('loss')!.data[0];
    expect(lora).toBe(full);
  });

  it('trains only the adapters: base weights stay bitwise equal, the loss falls', () => {
    const s = session(finetune);
    const before = new Map([...s.params].map(([k, v]) => [k, Float32Array.from(v.data)]));
    const losses = Array.from({ length: 40 }, () => s.run().get('loss')!.data[0]!);
    const adapters = [...s.params.keys()].filter((k) => k.endsWith('.lora_a') || k.endsWith('.lora_b'));
    expect(adapters.sort()).toEqual(
      ['layer.0.causal_self_attention.wqkv', 'layer.0.mlp.w2', 'layer.1.causal_self_attention.wqkv', 'layer.1.mlp.w2']
        .flatMap((w) => [loraA(w), loraB(w)])
        .sort(),
    );
    for (const [name, v] of s.params) {
      if (name.includes('.adam_')) continue;
      const same = before.get(name)!.every((x, i) => x === v.data[i]);
      expect(same, name).toBe(!adapters.includes(name));
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.95); // rank-4 adapters on a random base: 2.39 → 2.15
  });

  it('computes the merged model: x @ W + (alpha/rank)·(x @ A) @ B equals x @ (W + (alpha/rank)·A·B)', () => {
    const s = session(finetune);
    for (let i = 0; i < 10; i++) s.run();
    const params = new Map([...s.params].map(([k, v]) => [k, { data: Float64Array.from(v.data), shape: v.shape }]));
    const logits = s.run().get('logits')!.data;
    // fold each adapter into its weight and run the plain model on the merged weights
    const base = session('infer');
    for (const [name, w] of params) {
      if (!base.params.has(name)) continue;
      const a = params.get(loraA(name));
      const b = params.get(loraB(name));
      const merged = Float32Array.from(w.data);
      if (a && b) {
        const [rows, cols] = w.shape as [number, number];
        const r = a.shape[1]!;
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++)
            for (let k = 0; k < r; k++) merged[i * cols + j]! += (8 / 4) * a.data[i * r + k]! * b.data[k * cols + j]!;
      }
      base.params.set(name, { data: merged, shape: w.shape });
    }
    const want = base.evaluate(base.module, s.step).get('logits')!.data;
    expect(want.length).toBe(logits.length);
    const err = Math.max(...Array.from(want, (x, i) => Math.abs(x - logits[i]!)));
    expect(err).toBeLessThan(1e-5);
  });

  it('keeps gradients and Adam state for the adapters only', () => {
    const r = tinyGpt(finetune);
    const m = r.module!;
    const grads = m.outputs.filter((o) => o.name.startsWith('grad:')).map((o) => o.name.slice(5));
    expect(grads.every((g) => g.endsWith('.lora_a') || g.endsWith('.lora_b'))).toBe(true);
    expect(grads).toHaveLength(8);
    const states = m.values.filter((v) => v.op === 'state').map(leafName);
    expect(states.every((n) => /\.lora_[ab]\.adam_[mv]$/.test(n))).toBe(true);
    const { summary } = summarize(m, r.lowered!);
    expect(summary.task).toBe('finetune');
    expect(summary.parameters.trained).toBe(2 * (16 * 4 + 4 * 48) + 2 * (64 * 4 + 4 * 16));
  });

  it('reports targets that name nothing, or no linear weight, with the parameters it has', () => {
    const r = tinyGpt('finetune { lora: { rank: 4, targets: [wqv, wte] } }');
    expect(r.diagnostics.map((d) => [d.code, d.message, d.hint])).toEqual([
      ['FLX5011', 'LoRA target `wqv` names no parameter of model `Gpt`', 'did you mean `wqkv`?'],
      [
        'FLX5011',
        'LoRA target `wte` names wte, which no matmul reads as `x @ W`',
        'LoRA adapts the weights of linear layers',
      ],
    ]);
    expect(tinyGpt('finetune { optimizer: adam }').diagnostics.map((d) => d.message)).toEqual([
      '`finetune` needs `lora: { rank: 16, targets: [wq, wv] }`',
    ]);
    expect(tinyGpt('finetune { lora: { rank: 0, targets: [wo] } }').diagnostics.map((d) => d.message)[0]).toMatch(
      /rank/,
    );
  });
});
