import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { stagesOf } from '../../compiler/ir/stages.ts';
import { expectSameSteps } from './check.ts';

const FILE = 'test/partition/models.flex';

describe('pipeline parallelism: simulated ranks, each running its stage, = one device', () => {
  it('gpt, pipeline 2: the two layers on two ranks; activations and the tied embedding cross by pp_send', () => {
    const r = expectSameSteps(FILE, 'gpt', 'gpt_pp2', { tensor: 1, pipeline: 2 });
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
    expectSameSteps(FILE, 'gpt_b4', 'gpt_3d', { tensor: 2, pipeline: 2, data: 2 });
  });

  it('gpt, the same with sequence parallelism', () => {
    expectSameSteps(FILE, 'gpt_b4', 'gpt_3d_sp', { tensor: 2, pipeline: 2, data: 2 });
  });

  it('mlp (AdamW, its moments split), tensor 2 × pipeline 2 × data 2', () => {
    expectSameSteps(FILE, 'mlp_b4', 'mlp_3d', { tensor: 2, pipeline: 2, data: 2 });
  });

  it('gpt, interleaved: four layers, four stages on two ranks (rank 0 runs stages 0 and 2), four micro-batches', () => {
    const r = expectSameSteps(FILE, 'gpt4', 'gpt4_interleaved', { tensor: 1, pipeline: 2 }, 2);
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
