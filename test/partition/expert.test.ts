import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { expertIndex } from '../../compiler/interp/ranks.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { sliceOf } from '../../compiler/ir/ops/util.ts';
import { shardOf } from '../../compiler/passes/partition-tensor.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { relErr } from '../helpers/oracle.ts';
import { expectSameSteps } from './check.ts';

const FILE = 'test/partition/models.flex';

describe('expert parallelism: simulated ranks, each holding its share of the experts, = one device', () => {
  it('moe classifier (SwiGLU, AdamW), data 4, the experts over groups of 2: gradients and parameters', () => {
    const r = expectSameSteps(FILE, 'moe_cls', 'moe_cls_ep2', { tensor: 1, data: 4, expert: 2 });
    // each rank holds four of the eight experts, and sends every expert's rows to its holder and back
    const weights = r.values.filter((v) => v.op === 'param' && shardOf(v)?.group === 'expert');
    expect(weights.map((w) => w.type.shape[0])).toEqual([4, 4, 4]);
    const exchanges = r.values.filter((v) => v.op === 'ep_all_to_all');
    // dispatch and combine, and the combine's gradient (the dispatched rows are the input's: no gradient)
    expect(exchanges.length).toBe(3);
    expect(exchanges.every((v) => v.attrs['ranks'] === 2)).toBe(true);
  });

  it('the same over all four replicas (one expert group: two experts a rank)', () => {
    expectSameSteps(FILE, 'moe_cls', 'moe_cls_ep4', { tensor: 1, data: 4, expert: 4 });
  });

  it('gpt-moe, tensor 2 × pipeline 2 × data 2, the experts over the two replicas (8 ranks, 2 micro-batches)', () => {
    const r = expectSameSteps(FILE, 'moe_b4', 'moe_3d', { tensor: 2, pipeline: 2, data: 2, expert: 2 });
    // two layers: dispatch and combine each way
    expect(r.values.filter((v) => v.op === 'ep_all_to_all').length).toBe(8);
  });
});

describe('expert parallelism with a capacity that drops tokens and a balance loss', () => {
  it('computes what data parallelism alone does: each replica routes its own tokens', () => {
    const dp = compile(FILE, 'moe_dp4');
    const ep = compile(FILE, 'moe_ep4');
    expect(ep.diagnostics).toEqual([]);
    // C = ⌈2·8/4 · 0.75⌉ = 3 slots for 4 choices an expert on average: at least a quarter of the choices dropped
    const { moe } = summarize(dp.module!, dp.lowered!).summary.parameters;
    expect(moe).toMatchObject({ capacity: 3, dropped: 0.25 });
    const a = new CpuSession(dp.module!, { seed: 5, data: 4, graphs: graphResolver(dp.program) });
    const b = new CpuSession(ep.module!, { seed: 5, data: 4, graphs: graphResolver(ep.program) });
    expect(b.layout).toMatchObject({ tensor: 1, data: 4, expert: 4 });
    for (let step = 1; step <= 3; step++) {
      const la = a.run().get('loss')!.data[0]!;
      const lb = b.run().get('loss')!.data[0]!;
      expect(Math.abs(lb - la) / Math.abs(la), `step ${step} loss`).toBeLessThan(1e-5);
    }
    let experts = 0;
    for (const v of ep.module!.values) {
      if (v.op !== 'param') continue;
      const name = String(v.attrs['name']);
      const s = shardOf(v);
      if (s) experts++;
      b.ranks.forEach((held, k) => {
        const whole = a.ranks[k]!.get(name)!;
        const want = s ? sliceOf(whole, s.axis, s.parts, expertIndex(b.layout, k)) : whole;
        expect(relErr(held.get(name)!.data, want.data), `rank ${k} ${name}`).toBeLessThan(1e-5);
      });
    }
    expect(experts).toBe(8); // w1, b1, w2, b2 of two layers
  });
});

describe('expert parallelism: what cannot split', () => {
  it('a layer written with moe_dispatch and moe_combine', () => {
    const r = compile('test/moe/fixtures/moe-decomposed.flex', 'ep2');
    expect(r.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([
      'FLX5013 an MoE layer written with moe_dispatch and moe_combine does not split: its experts are whatever ' +
        'reads the rows',
    ]);
  });
});
