import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule, runRanks } from '../../compiler/interp/interpret.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import { dataGroups, dataIndex, rankGroups, shardParams, sliceOf, tensorIndex } from '../../compiler/interp/ranks.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { shardOf } from '../../compiler/passes/partition-tensor.ts';
import { relErr } from '../helpers/oracle.ts';
import { expectGradients, expectHeld } from './check.ts';

const FILE = 'test/partition/models.flex';
const layout = { tensor: 2 };

/**
 * Tensor parallelism is right when its ranks, run together (devices simulated in one process), compute what one
 * device does: the same loss on every rank, and after each step every rank's slice of each parameter (and of its
 * optimizer state) equal to that slice of the one device's.
 */
describe('tensor parallelism (parallel: { tensor: 2 }): two simulated ranks = one device', () => {
  // [plan, layers split, parameters split, tp_copy, tp_reduce (forward and backward)]; a transformer's vocabulary
  // (11 classes, padded to 12) splits too: its table (GPT's tied to the output layer; Llama's output layer its own),
  // the output layer's input entering by one more tp_copy, whose gradient is one more reduction
  for (const [plan, layers, split, copies, reductions] of [
    ['classifier', 1, 3, 1, 1],
    ['gpt', 4, 13, 5, 9],
    ['llama', 4, 16, 5, 9],
    // LoRA's adapters (Megatron's layout): a column-parallel weight's B split with its columns and its A replicated,
    // a row-parallel weight's A split with its rows and its B replicated (no gradient reaches the first layer's input:
    // the embeddings are frozen)
    ['gpt_lora', 4, 19, 9, 14],
  ] as const)
    it(`${plan}: ${layers} layers split; loss, gradients and updated parameters of 3 steps within 1e-5`, () => {
      const one = compile(FILE, plan);
      const tp = compile(FILE, `${plan}_tp2`);
      expect(one.diagnostics).toEqual([]);
      expect(tp.diagnostics).toEqual([]);
      const m = one.module!;
      const r = tp.module!;
      // the forward's reduction of each layer, and the backward's of its input's gradient (not of the classifier's x)
      expect(r.values.filter((v) => v.op === 'tp_reduce').length).toBe(reductions);
      expect(r.values.filter((v) => v.op === 'tp_copy').length).toBe(copies);
      const session = new CpuSession(m, { seed: 0, graphs: graphResolver(one.program) });
      const whole = session.params;
      const ranks = [0, 1].map((k) => ({ feeds: new Map(), params: shardParams(r, whole, layout, k) }));
      // W1, its bias and W2; QKV, its bias and the output projection (Llama: q, k, v, o; SwiGLU's gate, up, down)
      expect(r.values.filter((v) => v.op === 'param' && shardOf(v)).length).toBe(split);
      for (let step = 1; step <= 3; step++) {
        const feeds = session.feeds(m, step);
        for (const k of ranks) k.feeds = feeds;
        const outs = runModule(m, feeds, whole, { step }).outputs;
        const want = outs.get('loss')!;
        const got = runRanks(r, ranks, rankGroups(layout), { step });
        for (const g of got)
          expect(relErr(g.outputs.get('loss')!.data, want.data), `step ${step} loss`).toBeLessThan(1e-5);
        expectGradients(r, got, outs, (k) => k, `step ${step}`);
        expectHeld(r, ranks, whole, (k) => k, `step ${step}`, ['param', 'state']);
      }
    });
});

describe('flexc run --backend cpu on a tensor-parallel plan (CpuSession over its ranks)', () => {
  for (const plan of ['gpt', 'llama'])
    it(`${plan}: the ranks start from slices of the one-device parameters and print its losses`, () => {
      const one = compile(FILE, plan);
      const tp = compile(FILE, `${plan}_tp2`);
      const a = new CpuSession(one.module!, { seed: 3, graphs: graphResolver(one.program) });
      const b = new CpuSession(tp.module!, { seed: 3, graphs: graphResolver(tp.program) });
      expect(b.ranks.length).toBe(2);
      for (let step = 0; step < 3; step++) {
        const la = a.run().get('loss')!.data[0]!;
        const lb = b.run().get('loss')!.data[0]!;
        expect(Math.abs(lb - la) / Math.abs(la), `step ${step + 1}`).toBeLessThan(1e-5);
      }
    });
});

describe('tensor 2 × data 2: four simulated ranks = one device on the whole batch', () => {
  it('gpt: the replicas’ mean loss and every rank’s parameters after 3 steps within 1e-5 of gpt_b4’s', () => {
    const one = compile(FILE, 'gpt_b4');
    const par = compile(FILE, 'gpt_tp2_dp2');
    const m = one.module!;
    const r = par.module!;
    const grid = { tensor: 2, data: 2 };
    const session = new CpuSession(m, { seed: 0, graphs: graphResolver(one.program) });
    const whole = session.params;
    const ranks = [0, 1, 2, 3].map((k) => ({ feeds: new Map(), params: shardParams(r, whole, grid, k) }));
    for (let step = 1; step <= 3; step++) {
      const feeds = session.feeds(m, step);
      // replica d reads rows d·B … (d + 1)·B − 1 of the batch
      for (const [k, rank] of ranks.entries())
        rank.feeds = new Map(
          [...feeds].map(([name, x]) => {
            const v = r.values.find((u) => u.op === 'input' && u.attrs['name'] === name)!;
            const split = x.shape.length > 0 && x.shape[0] !== v.type.shape[0];
            return [name, split ? sliceOf(x, 0, grid.data, dataIndex(grid, k)) : x];
          }),
        );
      const outs = runModule(m, feeds, whole, { step }).outputs;
      const want = outs.get('loss')!.data[0]!;
      const got = runRanks(r, ranks, rankGroups(grid), { step, dataGroups: dataGroups(grid) });
      expectGradients(r, got, outs, (k) => tensorIndex(grid, k), `step ${step}`);
      const mean = (got[0]!.outputs.get('loss')!.data[0]! + got[2]!.outputs.get('loss')!.data[0]!) / 2;
      expect(Math.abs(mean - want) / Math.abs(want), `step ${step} loss`).toBeLessThan(1e-5);
      expectHeld(r, ranks, whole, (k) => tensorIndex(grid, k), `step ${step}`);
    }
  });
});

describe('sequence parallelism (parallel: { tensor: 2, sequence: true }): two simulated ranks = one device', () => {
  for (const plan of ['gpt', 'llama'])
    it(`${plan}: norms and residual adds on half the tokens; loss, gradients, parameters of 3 steps, 1e-5`, () => {
      const one = compile(FILE, plan);
      const sp = compile(FILE, `${plan}_tp2_sp`);
      expect(sp.diagnostics).toEqual([]);
      const m = one.module!;
      const r = sp.module!;
      // each layer's input gathered and its output reduce-scattered along the tokens, forward; tp_copy only where a
      // whole parameter (a norm's scale, a bias) meets the rank's tokens, its gradient summed over the ranks
      const ops = (op: string) => r.values.filter((v) => v.op === op).length;
      for (const c of r.values.filter((v) => v.op === 'tp_copy')) expect(c.inputs[0]!.op).toBe('param');
      expect(ops('seq_gather_tp')).toBeGreaterThanOrEqual(4);
      expect(ops('seq_reduce_scatter')).toBeGreaterThanOrEqual(4);
      // the residual stream is [B, T/2, d] on a rank
      const norms = r.values.filter((v) => v.op === 'mul' && v.name?.includes('norm'));
      expect(norms.length).toBeGreaterThan(0);
      for (const v of norms) expect(v.type.shape[1]).toBe(4);
      const session = new CpuSession(m, { seed: 0, graphs: graphResolver(one.program) });
      const whole = session.params;
      const ranks = [0, 1].map((k) => ({ feeds: new Map(), params: shardParams(r, whole, layout, k) }));
      for (let step = 1; step <= 3; step++) {
        const feeds = session.feeds(m, step);
        for (const k of ranks) k.feeds = feeds;
        const outs = runModule(m, feeds, whole, { step }).outputs;
        const got = runRanks(r, ranks, rankGroups(layout), { step });
        for (const g of got)
          expect(relErr(g.outputs.get('loss')!.data, outs.get('loss')!.data), `step ${step} loss`).toBeLessThan(1e-5);
        expectGradients(r, got, outs, (k) => k, `step ${step}`);
        expectHeld(r, ranks, whole, (k) => k, `step ${step}`);
      }
    });
});

describe('serving with tensor parallelism: the KV cache split by heads', () => {
  it('gpt: the prompt’s pass and decode steps over a filled cache give one device’s logits and cache', () => {
    const one = compile(FILE, 'gpt_serve');
    const tp = compile(FILE, 'gpt_serve_tp2');
    expect(tp.diagnostics).toEqual([]);
    const graphs = graphResolver(one.program);
    const pairs: [Module, Module][] = [
      [one.module!, tp.module!],
      ...one.decode!.map((d, i) => [d.module, tp.decode![i]!.module] as [Module, Module]),
    ];
    for (const [m, r] of pairs) {
      const caches = r.values.filter((v) => v.op === 'state' && v.attrs['kv_cache']);
      expect(caches.length).toBe(4); // keys and values of two layers
      for (const c of caches) expect(shardOf(c)?.axis).toBe(1); // by heads
      const session = new CpuSession(m, { seed: 0, graphs });
      const whole = session.params;
      // a cache as full as this step finds it: seeded numbers in every position
      for (const v of m.values.filter((u) => u.op === 'state' && u.attrs['kv_cache'])) {
        const x = whole.get(String(v.attrs['name']))!;
        whole.set(String(v.attrs['name']), { data: x.data.map((_, i) => Math.sin(i * 0.37)), shape: x.shape });
      }
      const ranks = [0, 1].map((k) => ({ feeds: session.feeds(m, 1), params: shardParams(r, whole, layout, k) }));
      const after = new Map(whole);
      const want = runModule(m, session.feeds(m, 1), after, { step: 1 }).outputs;
      const got = runRanks(r, ranks, rankGroups(layout), { step: 1 });
      for (const g of got)
        expect(relErr(g.outputs.get('logits')!.data, want.get('logits')!.data), m.name).toBeLessThan(1e-5);
      expectHeld(r, ranks, after, (k) => k, m.name, ['state'], 1e-6);
    }
  });
});

describe('sequence parallelism that splits nothing', () => {
  it('5 tokens over 2 ranks: FLX5020 at `sequence`, not a plan that is tensor parallelism under another name', () => {
    const path = resolve('examples/_sequence_nothing.flex');
    const src =
      'import { Gpt } from "./gpt"\nplan p {\n  model: Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 1)\n' +
      '  bind: { B: 2, T: 5 }\n  task: train { optimizer: sgd(lr: 0.1) }\n' +
      '  parallel: { tensor: 2, sequence: true }\n}\n';
    const r = compile(path, 'p', {
      read: (p) => (p === path ? src : existsSync(p) ? readFileSync(p, 'utf8') : undefined),
    });
    expect(r.diagnostics.map((d) => [d.code, d.span.line, d.span.column, d.message])).toEqual([
      ['FLX5020', 6, 26, '`sequence: true` splits nothing: 5 tokens do not divide over 2 ranks'],
    ]);
  });
});

describe('flexc run --backend cpu on a data-parallel plan (CpuSession simulating the replicas)', () => {
  it('gpt, tensor 2 × data 2: each replica its own batch; the loss is their mean, as one device sees both', () => {
    const one = compile(FILE, 'gpt');
    const par = compile(FILE, 'gpt_tp2_dp2');
    const graphs = graphResolver(par.program);
    const a = new CpuSession(one.module!, { seed: 3, graphs, data: 2 });
    const b = new CpuSession(par.module!, { seed: 3, graphs, data: 2 });
    expect(b.ranks.length).toBe(4);
    // one device on each replica's batch, before any update
    const want = [0, 1].map((d) => a.evaluateOn(one.module!, a.feeds(one.module!, 1, d)).get('loss')!.data[0]!);
    expect(want[0]).not.toBeCloseTo(want[1]!, 3); // the replicas read different batches
    const got = b.run().get('loss')!.data[0]!;
    expect(Math.abs(got - (want[0]! + want[1]!) / 2) / Math.abs(got)).toBeLessThan(1e-5);
  });
});
