import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule, runRanks } from '../../compiler/interp/interpret.ts';
import { rankGroups, shardParams, sliceOf } from '../../compiler/interp/ranks.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { shardOf } from '../../compiler/passes/partition-tensor.ts';
import { relErr } from '../helpers/oracle.ts';

const FILE = 'test/partition/models.flex';
const layout = { tensor: 2 };

/**
 * Tensor parallelism is right when its ranks, run together (devices simulated in one process), compute what one
 * device does: the same loss on every rank, and after each step every rank's slice of each parameter (and of its
 * optimizer state) equal to that slice of the one device's.
 */
describe('tensor parallelism (parallel: { tensor: 2 }): two simulated ranks = one device', () => {
  // [plan, layers split, parameters split, tp_copy, tp_reduce (forward and backward)]
  for (const [plan, layers, split, copies, reductions] of [
    ['classifier', 1, 3, 1, 1],
    ['gpt', 4, 12, 4, 8],
    ['llama', 4, 14, 4, 8],
    // LoRA's adapters (Megatron's layout): a column-parallel weight's B split with its columns and its A replicated,
    // a row-parallel weight's A split with its rows and its B replicated (no gradient reaches the first layer's input:
    // the embeddings are frozen)
    ['gpt_lora', 4, 18, 8, 13],
  ] as const)
    it(`${plan}: ${layers} layers split; loss and updated parameters of 3 steps within 1e-5`, () => {
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
        const want = runModule(m, feeds, whole, { step }).outputs.get('loss')!;
        const got = runRanks(r, ranks, rankGroups(layout), { step });
        for (const g of got)
          expect(relErr(g.outputs.get('loss')!.data, want.data), `step ${step} loss`).toBeLessThan(1e-5);
        for (const [k, rank] of ranks.entries())
          for (const v of r.values) {
            if (v.op !== 'param' && v.op !== 'state') continue;
            const name = String(v.attrs['name']);
            const w = whole.get(name)!;
            const s = shardOf(v);
            const expected = s ? sliceOf(w, s.axis, s.parts, k, s.outer) : w;
            expect(relErr(rank.params.get(name)!.data, expected.data), `step ${step} rank ${k} ${name}`).toBeLessThan(
              1e-5,
            );
          }
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
