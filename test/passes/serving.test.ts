import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { runModule, type Tensors } from '../../compiler/interp/interpret.ts';
import { leafName } from '../../compiler/ir/graph.ts';

const GPT = readFileSync('examples/gpt.flex', 'utf8').replace(/^(\/\/[^\n]*\n)*plan [\s\S]*$/m, '');
const LLAMA = 'import { Llama2 } from "std/llm"\n';
const MODELS = {
  gpt: { src: GPT, call: 'Gpt(vocab: 11, ctx: 16, d: 16, heads: 2, depth: 2)' },
  llama: { src: LLAMA, call: 'Llama2(vocab: 13, d: 16, heads: 4, kv_heads: 2, hidden: 24, depth: 2)' },
};

function compilePlan(model: keyof typeof MODELS, body: string) {
  const path = resolve('examples/_serving.flex');
  const src = `${MODELS[model].src}\nplan p {\n  model: ${MODELS[model].call}\n${body}}\n`;
  const r = compile(path, 'p', {
    read: (p) => (p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined),
  });
  expect(r.diagnostics).toEqual([]);
  return r;
}

const B = 2;
const TOKENS = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8].map((t) => t % 11);
/** tokens[0:n] for each of the batch's sequences (the second sequence shifted by one). */
const tokens = (from: number, to: number) => ({
  data: Int32Array.from(
    { length: B * (to - from) },
    (_, k) => TOKENS[(Math.floor(k / (to - from)) + from + (k % (to - from))) % TOKENS.length]!,
  ),
  shape: [B, to - from],
});
const feeds = (from: number, to: number): Tensors =>
  new Map([
    ['tokens', tokens(from, to)],
    ['targets', tokens(from, to)],
  ]);

describe('serving with a KV cache', () => {
  for (const model of ['gpt', 'llama'] as const)
    it(`${model}: prefill then decode steps give the logits of the full sequence at every new position`, () => {
      const [prefill, decode] = [3, 4];
      const full = compilePlan(model, `  bind: { B: ${B}, T: ${prefill + decode} }\n`);
      const serve = (d: number) =>
        compilePlan(model, `  bind: { B: ${B} }\n  task: infer { prefill: ${prefill}, decode: ${d} }\n`);
      const params = new CpuSession(full.module!, {
        seed: 7,
        graphs: () => {
          throw new Error('no graphs');
        },
      }).params;
      const want = runModule(full.module!, feeds(0, prefill + decode), new Map(params)).outputs.get('logits')!;
      const vocab = want.shape.at(-1)!;
      const row = (b: number, t: number) =>
        Array.from(want.data.subarray((b * (prefill + decode) + t) * vocab, (b * (prefill + decode) + t + 1) * vocab));

      // the cache leaves start at zero; each step's updates write them
      const r = serve(decode);
      const state: Tensors = new Map(params);
      for (const v of r.module!.values)
        if (v.op === 'state')
          state.set(leafName(v), {
            data: new Float32Array((v.type.shape as number[]).reduce((a, d) => a * d, 1)),
            shape: v.type.shape as number[],
          });
      const first = runModule(r.module!, feeds(0, prefill), state).outputs.get('logits')!;
      for (let b = 0; b < B; b++)
        for (let t = 0; t < prefill; t++)
          expect(Array.from(first.data.subarray((b * prefill + t) * vocab, (b * prefill + t + 1) * vocab))).toEqual(
            row(b, t).map((x) => expect.closeTo(x, 5)),
          );
      // decode modules exist for the first and the last context; the steps between are built by planning shorter
      // requests
      expect(r.decode!.map((d) => d.context)).toEqual([prefill + 1, prefill + decode]);
      for (let t = prefill; t < prefill + decode; t++) {
        const step =
          t + 1 === prefill + decode ? r.decode!.at(-1)!.module : serve(t + 1 - prefill).decode!.at(-1)!.module;
        // a shorter request's cache is shorter: carry the tokens so far over
        for (const v of step.values.filter((x) => x.op === 'state')) {
          const have = state.get(leafName(v))!;
          const cap = (v.type.shape as number[])[2]!;
          const haveCap = have.shape[2]!;
          if (cap === haveCap) continue;
          const inner = (v.type.shape as number[])[3]!;
          const outer = have.data.length / (haveCap * inner);
          const data = new Float32Array(outer * cap * inner);
          for (let o = 0; o < outer; o++)
            data.set(
              have.data.subarray(o * haveCap * inner, o * haveCap * inner + Math.min(cap, haveCap) * inner),
              o * cap * inner,
            );
          state.set(leafName(v), { data, shape: v.type.shape as number[] });
        }
        const got = runModule(step, feeds(t, t + 1), state).outputs.get('logits')!;
        expect(got.shape).toEqual([B, 1, vocab]);
        for (let b = 0; b < B; b++)
          expect(Array.from(got.data.subarray(b * vocab, (b + 1) * vocab)), `${model} position ${t}`).toEqual(
            row(b, t).map((x) => expect.closeTo(x, 5)),
          );
      }
    });

  it(
    'keeps K and V of every layer for every position: 2 · ' + 'layers · d · bytes per token, as the KV cache category',
    () => {
      const r = compilePlan('gpt', `  bind: { B: ${B} }\n  task: infer { prefill: 5, decode: 3 }\n  precision: fp16\n`);
      const caches = r.module!.values.filter((v) => v.op === 'state' && v.attrs['kv_cache']);
      expect(caches).toHaveLength(2 * 2);
      expect(caches.every((v) => v.type.dtype === 'f16')).toBe(true);
      const { summary } = summarize(r.module!, r.lowered!, r.decode);
      expect(summary.memory.gpu.kv_cache).toBe(B * 8 * 2 * 2 * 16 * 2);
    },
  );

  it('without a KV cache each decode step runs the whole sequence', () => {
    const r = compilePlan('gpt', `  bind: { B: ${B} }\n  task: infer { prefill: 5, decode: 3, kv_cache: false }\n`);
    expect(r.module!.values.some((v) => v.op === 'state')).toBe(false);
    expect(
      r.decode!.map((d) => d.module.values.find((v) => v.op === 'input' && leafName(v) === 'tokens')!.type.shape),
    ).toEqual([
      [B, 6],
      [B, 8],
    ]);
  });

  it('asks for the sequence length from the task, not from bind', () => {
    const path = resolve('examples/_serving.flex');
    const src =
      `${GPT}\nplan p {\n  model: ${MODELS.gpt.call}\n  bind: { ` +
      `B: 2, T: 4 }\n  task: infer { prefill: 3, decode: 1 }\n}\n`;
    const r = compile(path, 'p', {
      read: (p) => (p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined),
    });
    expect(r.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['FLX5012', '`T` is the sequence length, which `infer { prefill, decode }` sets'],
    ]);
  });
});
