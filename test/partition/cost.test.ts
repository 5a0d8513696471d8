import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { allGather, allReduce } from '../../compiler/cost/collectives.ts';
import { machineOf } from '../../compiler/cost/device.ts';
import { estimateStep } from '../../compiler/cost/step.ts';
import { memoryTimeline } from '../../compiler/cost/memory.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { shardOf } from '../../compiler/passes/partition-tensor.ts';

const FILE = 'test/partition/models.flex';

describe('the cost model of a tensor-parallel plan: one rank’s step', () => {
  it('two all-reduces of a layer’s activations forward and two backward per layer (Shoeybi et al. 2019, §3)', () => {
    const r = compile(FILE, 'gpt_tp2_pair');
    expect(r.diagnostics).toEqual([]);
    const machine = machineOf(r.lowered!.hardware!)!;
    const est = estimateStep(r.module!, r.lowered!.config, machine);
    const [B, T, d, depth, V] = [2, 8, 16, 2, 12]; // the vocabulary's 11 classes padded to 12
    const net = { n: 2, bandwidth: machine.network!.bandwidth, latency: machine.network!.latency };
    const layers = 4 * depth * allReduce(B * T * d * 4, net);
    // the vocabulary split by classes (Megatron): the embedding's all-reduce and the output layer's input's gradient's,
    // the logits output all-gathered, and the loss's per-row maximum, sum and target logit (the gradient: two of them)
    const vocab =
      2 * allReduce(B * T * d * 4, net) +
      allGather(B * T * V * 4, net) +
      allReduce(3 * B * T * 4, net) +
      allReduce(2 * B * T * 4, net);
    expect(est.communication_seconds).toBeCloseTo(layers + vocab, 12);
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
    // the vocabulary of 11 padded to 12: one padding row of the embedding table
    expect(split * 2 - 16 + whole).toBe(count(one, () => true));
    // the split weights are most of a transformer layer's: QKV, output projection and the MLP
    expect(split).toBeGreaterThan(whole / 2);
  });
});

describe('the cost model of sequence parallelism (Korthikanti et al. 2022, §4.2.2)', () => {
  it('about the collectives of tensor parallelism: theirs plus the head’s gather (norms’ gradients hidden)', () => {
    const tp = compile(FILE, 'gpt_tp2_pair');
    const sp = compile(FILE, 'gpt_tp2_sp_pair');
    const machine = machineOf(tp.lowered!.hardware!)!;
    // on the critical path (the norms' and biases' gradients are summed in one bucket behind the backward pass)
    const t = estimateStep(tp.module!, tp.lowered!.config, machine).by_class.communication;
    const s = estimateStep(sp.module!, sp.lowered!.config, machine).by_class.communication;
    expect(s).toBeGreaterThan(t);
    expect(s).toBeLessThan(1.5 * t);
  });

  it('activations between the layers on half the tokens: a lower activation peak than tensor parallelism', () => {
    const tp = compile(FILE, 'gpt_tp2_pair');
    const sp = compile(FILE, 'gpt_tp2_sp_pair');
    const act = (r: typeof tp) => memoryTimeline(r.module!, r.lowered!.config).gpu.at_peak.activations;
    expect(act(sp)).toBeLessThan(act(tp));
  });
});

describe('the cost model of serving over a pipeline', () => {
  it('each GPU holds its stage’s KV cache; a request passes the stages in turn, with what crosses between them', () => {
    const one = compile(FILE, 'gpt_serve_pair');
    const pp = compile(FILE, 'gpt_serve_pp2');
    const a = summarize(one.module!, one.lowered!, one.decode).summary;
    const b = summarize(pp.module!, pp.lowered!, pp.decode).summary;
    expect(b.memory.gpu.kv_cache).toBe(a.memory.gpu.kv_cache / 2);
    expect(b.memory.gpu.peak_bytes).toBeLessThan(a.memory.gpu.peak_bytes);
    // the residual stream [B, T, d] to the second stage: once for the prompt, once per generated token
    const machine = machineOf(pp.lowered!.hardware!)!;
    const net = machine.network!;
    const send = (tokens: number) => (2 * tokens * 16 * 4) / net.bandwidth + net.latency;
    expect(b.serving!.time_to_first_token_seconds - a.serving!.time_to_first_token_seconds).toBeCloseTo(send(4), 12);
    expect(b.serving!.decode_seconds_per_token - a.serving!.decode_seconds_per_token).toBeCloseTo(send(1), 12);
  });
});
