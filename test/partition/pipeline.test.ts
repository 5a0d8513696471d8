import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule, runRanks, type Tensors } from '../../compiler/interp/interpret.ts';
import {
  dataGroups,
  dataIndex,
  pipeIndex,
  rankCount,
  rankGroups,
  type RankLayout,
  shardParams,
  sliceOf,
  tensorIndex,
} from '../../compiler/interp/ranks.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import type { Value } from '../../compiler/ir/graph.ts';
import { stagesOf } from '../../compiler/ir/stages.ts';
import { expectGradients, expectHeld, withAccumulators } from './check.ts';

const FILE = 'test/partition/models.flex';

/**
 * A pipeline is right when its ranks, each running only its stage's part of the program and sending what the next
 * stage reads, compute what one device does on the whole batch: each replica's micro-batches are rows of it, the
 * accumulated update is the one device's, and every rank's parameters (and optimizer state) after each step are the
 * one device's, sliced where tensor parallelism splits them.
 */
function expectSameSteps(onePlan: string, plan: string, layout: RankLayout, steps = 3) {
  const one = compile(FILE, onePlan);
  const par = compile(FILE, plan);
  expect(one.diagnostics).toEqual([]);
  expect(par.diagnostics).toEqual([]);
  const m = one.module!;
  const r = par.module!;
  const st = stagesOf(r)!;
  expect(st.pipeline).toBe(layout.pipeline);
  const n = rankCount(layout);
  const holds = (k: number, v: Value) => st.stage.get(v)! % st.pipeline === pipeIndex(layout, k);
  const session = new CpuSession(m, { seed: 0, graphs: graphResolver(one.program) });
  const whole = session.params;
  const own = new Set(whole.keys());
  withAccumulators(r, whole);
  const ranks = [...Array(n).keys()].map((k) => ({
    feeds: new Map() as Tensors,
    params: shardParams(r, whole, layout, k),
  }));
  const micro = r.values.find((v) => v.op === 'input' && v.attrs['name'] !== 'step' && !v.attrs['feed'])!;
  const rows = micro.type.shape[0] as number;
  const batch = m.values.find((v) => v.op === 'input' && v.attrs['name'] === micro.attrs['name'])!.type
    .shape[0] as number;
  const data = layout.data ?? 1;
  const k = batch / (rows * data); // micro-batches a step on each replica
  const runner = new CpuSession(r, { seed: 0, graphs: graphResolver(par.program) });
  for (let step = 1; step <= steps; step++) {
    const feeds = session.feeds(m, step);
    const outs = runModule(m, feeds, whole, { step }).outputs;
    let loss = 0;
    for (let j = 0; j < k; j++) {
      const run = (step - 1) * k + j + 1;
      const counters = runner.feeds(r, run); // the step counter and the last-micro-batch flag
      for (const [rank, x] of ranks.entries()) {
        // replica d's micro-batch j: rows (d · k + j) · rows … of the whole batch
        const part = dataIndex(layout, rank) * k + j;
        x.feeds = new Map(
          [...counters].map(([name, t]) => [
            name,
            feeds.has(name) ? sliceOf(feeds.get(name)!, 0, batch / rows, part) : t,
          ]),
        );
      }
      const got = runRanks(r, ranks, rankGroups(layout), { step: run, dataGroups: dataGroups(layout), layout });
      // the loss lives on the last stage's ranks: every tensor rank of each replica has it
      const last = got.filter((_, q) => pipeIndex(layout, q) === st.pipeline - 1);
      expect(last.length).toBe(layout.tensor * data);
      for (const g of last) loss += g.outputs.get('loss')!.data[0]! / (last.length * k);
      for (const [q, g] of got.entries())
        if (pipeIndex(layout, q) !== st.pipeline - 1) expect(g.outputs.has('loss')).toBe(false);
      if (k === 1) expectGradients(r, got, outs, (q) => tensorIndex(layout, q), `step ${step}`, holds);
    }
    const want = outs.get('loss')!.data[0]!;
    expect(Math.abs(loss - want) / Math.abs(want), `step ${step} loss`).toBeLessThan(1e-5);
    expectHeld(
      r,
      ranks,
      whole,
      (q) => tensorIndex(layout, q),
      `step ${step}`,
      ['param', 'state'],
      1e-5,
      holds,
      (v) => own.has(String(v.attrs['name'])),
    );
  }
  return r;
}

describe('pipeline parallelism: simulated ranks, each running its stage, = one device', () => {
  it('gpt, pipeline 2: the two layers on two ranks; activations and the tied embedding cross by pp_send', () => {
    const r = expectSameSteps('gpt', 'gpt_pp2', { tensor: 1, pipeline: 2 });
    const sends = r.values.filter((v) => v.op === 'pp_send');
    // forward: the residual stream to stage 1 and the embedding (tied to the head) too; backward: their gradients
    expect(sends.map((v) => `${v.attrs['from']}→${v.attrs['to']} ${v.name}`)).toEqual([
      '0→1 layer.0.x',
      '0→1 wte',
      '1→0 wte.grad',
      '1→0 layer.0.x.grad',
    ]);
  });

  it('gpt, tensor 2 × pipeline 2 × data 2 (8 ranks, 1F1B, two micro-batches a replica): loss and parameters', () => {
    expectSameSteps('gpt_b4', 'gpt_3d', { tensor: 2, pipeline: 2, data: 2 });
  });

  it('gpt, the same with sequence parallelism', () => {
    expectSameSteps('gpt_b4', 'gpt_3d_sp', { tensor: 2, pipeline: 2, data: 2 });
  });

  it('mlp (AdamW, its moments split), tensor 2 × pipeline 2 × data 2', () => {
    expectSameSteps('mlp_b4', 'mlp_3d', { tensor: 2, pipeline: 2, data: 2 });
  });

  it('gpt, interleaved: four layers, four stages on two ranks (rank 0 runs stages 0 and 2), four micro-batches', () => {
    const r = expectSameSteps('gpt4', 'gpt4_interleaved', { tensor: 1, pipeline: 2 }, 2);
    const st = stagesOf(r)!;
    expect(st.count).toBe(4);
    const layer = (s: number) =>
      new Set(
        r.values
          .filter((v) => st.stage.get(v) === s && v.op !== 'pp_send' && v.name?.startsWith('layer.'))
          .map((v) => v.name!.split('.')[1]),
      );
    expect([0, 1, 2, 3].map((s) => [...layer(s)])).toEqual([['0'], ['1'], ['2'], ['3']]);
  });
});

describe('flexc run --backend cpu on a pipelined plan (CpuSession over its ranks)', () => {
  for (const [plan, ranks] of [
    ['gpt_pp2', 2],
    ['gpt_tp2_pp2', 4],
  ] as const)
    it(`${plan}: ${ranks} ranks, each holding its stage, print gpt’s losses`, () => {
      const one = compile(FILE, 'gpt');
      const par = compile(FILE, plan);
      const a = new CpuSession(one.module!, { seed: 3, graphs: graphResolver(one.program) });
      const b = new CpuSession(par.module!, { seed: 3, graphs: graphResolver(par.program) });
      expect(b.ranks.length).toBe(ranks);
      for (let step = 0; step < 3; step++) {
        const la = a.run().get('loss')!.data[0]!;
        const lb = b.run().get('loss')!.data[0]!;
        expect(Math.abs(lb - la) / Math.abs(la), `step ${step + 1}`).toBeLessThan(1e-5);
      }
    });
});
