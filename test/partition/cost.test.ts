import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { allReduce } from '../../compiler/cost/collectives.ts';
import { machineOf } from '../../compiler/cost/device.ts';
import { estimateStep } from '../../compiler/cost/step.ts';
import { shardOf } from '../../compiler/passes/partition-tensor.ts';

const FILE = 'test/partition/models.flex';

describe('the cost model of a tensor-parallel plan: one rank’s step', () => {
  it('two all-reduces of a layer’s activations forward and two backward per layer (Shoeybi et al. 2019, §3)', () => {
    const r = compile(FILE, 'gpt_tp2_pair');
    expect(r.diagnostics).toEqual([]);
    const machine = machineOf(r.lowered!.hardware!)!;
    const est = estimateStep(r.module!, r.lowered!.config, machine);
    const [B, T, d, depth] = [2, 8, 16, 2];
    const net = { n: 2, bandwidth: machine.network!.bandwidth, latency: machine.network!.latency };
    expect(est.communication_seconds).toBeCloseTo(4 * depth * allReduce(B * T * d * 4, net), 12);
    expect(est.bottleneck).toBeTypeOf('string');
  });

  it('the rank holds half of each split weight and all of the rest', () => {
    const one = compile(FILE, 'gpt').module!;
    const rank = compile(FILE, 'gpt_tp2').module!;
    const count = (m: typeof one, f: (v: (typeof one.values)[number]) => boolean) =>
      m.values
        .filter((v) => v.op === 'param' && f(v))
        .reduce((a, v) => a + (v.type.shape as number[]).reduce((x, y) => x * y, 1), 0);
    const split = count(rank, (v) => !!shardOf(v));
    const whole = count(rank, (v) => !shardOf(v));
    expect(split * 2 + whole).toBe(count(one, () => true));
    // the split weights are most of a transformer layer's: QKV, output projection and the MLP
    expect(split).toBeGreaterThan(whole / 2);
  });
});
