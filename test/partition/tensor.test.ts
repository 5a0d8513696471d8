import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule, runRanks } from '../../compiler/interp/interpret.ts';
import { rankGroups, shardParams, sliceOf } from '../../compiler/interp/ranks.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { relErr } from '../helpers/oracle.ts';

const FILE = 'test/partition/models.flex';
const layout = { tensor: 2 };

/**
 * Tensor parallelism is right when its ranks, run together (devices simulated in one process), compute what one
 * device does: the same loss on every rank, and after each step every rank's slice of each parameter (and of its
 * optimizer state) equal to that slice of the one device's.
 */
describe('tensor parallelism (parallel: { tensor: 2 }): two simulated ranks = one device', () => {
  for (const [plan, pairs, reductions] of [
    ['classifier', 1, 1],
    ['gpt', 2, 4],
    ['llama', 2, 4],
  ] as const)
    it(`${plan}: ${pairs} pair(s) split; loss and updated parameters of 3 steps within 1e-5`, () => {
      const one = compile(FILE, plan);
      const tp = compile(FILE, `${plan}_tp2`);
      expect(one.diagnostics).toEqual([]);
      expect(tp.diagnostics).toEqual([]);
      const m = one.module!;
      const r = tp.module!;
      // the forward's reduction of each pair, and the backward's of its input's gradient (not of the classifier's x)
      expect(r.values.filter((v) => v.op === 'tp_reduce').length).toBe(reductions);
      expect(r.values.filter((v) => v.op === 'tp_copy').length).toBe(pairs);
      const session = new CpuSession(m, { seed: 0, graphs: graphResolver(one.program) });
      const whole = session.params;
      const ranks = [0, 1].map((k) => ({ feeds: new Map(), params: shardParams(r, whole, layout, k) }));
      // W1, its bias and W2 (Llama's SwiGLU: gate, up and down)
      const split = r.values.filter((v) => v.op === 'param' && v.attrs['shard_axis'] !== undefined);
      expect(split.length).toBe(3 * pairs);
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
            const axis = w.shape.findIndex((d, i) => d !== v.type.shape[i]);
            const expected = axis < 0 ? w : sliceOf(w, axis, 2, k);
            expect(relErr(rank.params.get(name)!.data, expected.data), `step ${step} rank ${k} ${name}`).toBeLessThan(
              1e-5,
            );
          }
      }
    });
});
