import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { compile } from '../../compiler/compile.ts';
import type { Device, Machine } from '../../compiler/cost/device.ts';
import { machineOf } from '../../compiler/cost/device.ts';
import { classOf, opTime } from '../../compiler/cost/op-time.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { estimateStep } from '../../compiler/cost/step.ts';
import { LEAF_OPS } from '../../compiler/ir/graph.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';
import { planConfig, trainTask } from '../helpers/plan-config.ts';

/**
 * Step time of data-parallel training and of serving against closed forms written here: ring
 * collectives (Patarasuk & Yuan 2009), DDP's gradient all-reduce overlapped with the backward pass
 * (Li et al. 2020, "PyTorch Distributed"), ZeRO's reduce-scatter and all-gather and its
 * communication volume (Rajbhandari et al. 2020, §7: stages 1–2 move what DDP moves, 2Ψ; stage 3
 * moves 3Ψ, 1.5×), ZeRO-Offload's transfers (Ren et al. 2021: gradients down, parameters up, Adam on
 * the host), and the roofline bounds of serving (prefill compute-bound, decode memory-bound).
 */
const close = (a: number, b: number, digits = 12) => expect(a).toBeCloseTo(b, digits);
const rel = (a: number, b: number) => Math.abs(a / b - 1);

const [B, K, N] = [4096, 2048, 2048];
const W = 4 * K * N; // fp32 weights; the gradient is as large
const STATE = 2 * W; // Adam's m and v

const device: Device = {
  memory: 80e9,
  bandwidth: 2e12,
  peak: { f32: 60e12 },
  computeEfficiency: 0.7,
  memoryEfficiency: 0.8,
  gatherEfficiency: 0.8,
  launch: 5e-6,
};

const trainingStep = runPipeline(
  parseModule(`module @dp {
  %0 = input "x" : f32[${B},${K}]
  %1 = param "w" {init = "normal", mean = 0, std = 0.02} : f32[${K},${N}]
  %2 = matmul %0, %1 : f32[${B},${N}]
  %3 = mul %2, %2 : f32[${B},${N}]
  %4 = mean %3 {axes = [0, 1], keepdims = false} : f32[]
  output "loss" = %4
}
`),
  { config: planConfig({ task: trainTask('adam', 1e-3) }) },
);

type Parallel = PlanConfig['parallel'];
function estimate(
  parallel: Partial<Parallel>,
  net: { bandwidth: number; latency: number },
  more: Partial<Machine> = {},
) {
  const p: Parallel = { data: 1, zero: 0, offload: [], ...parallel };
  const machine: Machine = { gpu: device, count: p.data, network: { ...net, topology: 'switched' }, ...more };
  return estimateStep(
    trainingStep,
    { parallel: p, precision: 'fp32', task: trainTask('adam') as PlanConfig['task'] },
    machine,
  );
}

/** Ring reduce-scatter or all-gather of `bytes` over n GPUs; all-reduce is both. */
const ring = (bytes: number, n: number, net: { bandwidth: number; latency: number }) =>
  (n - 1) * (bytes / n / net.bandwidth + net.latency);

describe('data-parallel training against closed forms', () => {
  const slow = { bandwidth: 5e9, latency: 10e-6 };
  const fast = { bandwidth: 1e13, latency: 0 };
  const one = estimate({}, slow);
  const [F, Bk, O] = [one.forward_seconds, one.backward_seconds, one.optimizer_seconds];
  const n = 8;

  it('one GPU: the step is its forward, backward and optimizer; model FLOPs are 4BKN (no input gradient)', () => {
    close(one.step_seconds, F + Bk + O);
    expect(one.communication_seconds).toBe(0);
    expect(rel(one.flops.model, 4 * B * K * N)).toBeLessThan(0.01);
    close(one.mfu, one.flops.model / (one.step_seconds * 60e12));
    expect(one.samples_per_step).toBe(B);
  });

  it('DDP: each GPU computes the same; the gradient all-reduce hides behind the backward pass when it can', () => {
    for (const net of [slow, fast]) {
      const e = estimate({ data: n }, net);
      const allReduce = 2 * ring(W, n, net);
      close(e.forward_seconds, F);
      close(e.backward_seconds, Bk);
      close(e.communication_seconds, allReduce);
      close(e.step_seconds, F + Bk + O + Math.max(0, allReduce - Bk));
      expect(e.samples_per_step).toBe(n * B);
      close(e.mfu, e.flops.model / (e.step_seconds * 60e12));
    }
    // over the slow network the all-reduce outlasts the backward pass; over the fast one it is hidden
    expect(2 * ring(W, n, slow)).toBeGreaterThan(Bk);
    close(estimate({ data: n }, fast).step_seconds, one.step_seconds);
  });

  it(
    'ZeRO-1 and -2: gradients reduce-scattered behind the backward pass, ' +
      'each rank updates 1/n, updated weights all-gathered',
    () => {
      for (const zero of [1, 2] as const) {
        const e = estimate({ data: n, zero }, slow);
        const rs = ring(W, n, slow);
        const ag = ring(W, n, slow);
        close(e.optimizer_seconds, O / n);
        close(e.communication_seconds, rs + ag);
        close(e.step_seconds, F + Bk + O / n + Math.max(0, rs - Bk) + ag);
      }
    },
  );

  it('ZeRO-3: the weights gathered for the forward and backward pass, the gradients reduce-scattered, exposed', () => {
    for (const net of [slow, fast]) {
      const e = estimate({ data: n, zero: 3 }, net);
      const g = ring(W, n, net);
      close(e.communication_seconds, 3 * g);
      close(e.step_seconds, F + Bk + O / n + 3 * g);
    }
  });

  it('communication volume (no latency): ZeRO-1/2 move what DDP moves (2Ψ), ZeRO-3 1.5× as much (3Ψ)', () => {
    const bw = { bandwidth: 5e9, latency: 0 };
    const ddp = estimate({ data: 64 }, bw).communication_seconds;
    close(estimate({ data: 64, zero: 1 }, bw).communication_seconds / ddp, 1);
    close(estimate({ data: 64, zero: 2 }, bw).communication_seconds / ddp, 1);
    close(estimate({ data: 64, zero: 3 }, bw).communication_seconds / ddp, 1.5);
    // and ring all-reduce moves 2(n−1)/n of the gradient per GPU
    close(ddp, ((2 * 63) / 64) * (W / 5e9));
  });

  it(
    'ZeRO-Offload: gradients over the link to the host, weights back, ' +
      'Adam reads and writes its state in host memory',
    () => {
      const link = { bandwidth: 25e9, latency: 0 };
      const host = { bandwidth: 100e9 };
      for (const [data, zero] of [
        [1, 0],
        [n, 2],
      ] as const) {
        const e = estimate({ data, zero, offload: ['optimizer'] }, fast, { link, host });
        const share = zero >= 1 ? data : 1;
        const t = (W / share + W / share) / link.bandwidth + (2 * STATE + W) / share / host.bandwidth;
        close(e.transfer_seconds, t);
        expect(e.optimizer_seconds).toBe(0);
        // with ZeRO-2 the gradients are still reduce-scattered (hidden) and the weights all-gathered
        const g = data > 1 ? ring(W, data, fast) : 0;
        close(e.step_seconds, F + Bk + t + Math.max(0, g - Bk) + g);
      }
    },
  );
});

describe('parameters offloaded to the host (FlexGen-style streaming)', () => {
  const link = { bandwidth: 25e9, latency: 0 };
  const net = { bandwidth: 1e13, latency: 0 };
  const one = estimate({}, net);

  it('training streams the weights in for the forward and again for the backward pass, each behind its pass', () => {
    for (const bw of [link.bandwidth, 1e6]) {
      const e = estimate({ offload: ['params'] }, net, { link: { bandwidth: bw, latency: 0 } });
      const t = W / bw;
      close(e.transfer_seconds, 2 * t);
      close(e.by_class.transfers, Math.max(0, t - one.forward_seconds) + Math.max(0, t - one.backward_seconds));
      close(e.step_seconds, one.step_seconds + e.by_class.transfers);
    }
    // ZeRO-3 streams each rank's shard
    const z3 = estimate({ data: 4, zero: 3, offload: ['params'] }, net, { link });
    close(z3.transfer_seconds, (2 * W) / 4 / link.bandwidth);
  });

  it('inference streams them once, behind the forward pass only', () => {
    const machine: Machine = { gpu: device, count: 1, link: { bandwidth: 1e6, latency: 0 } };
    const cfg = (offload: Parallel['offload']) => ({
      parallel: { data: 1, zero: 0 as const, offload },
      precision: 'fp32' as const,
      task: { kind: 'infer' } as PlanConfig['task'],
    });
    const plain = estimateStep(trainingStep, cfg([]), machine);
    const e = estimateStep(trainingStep, cfg(['params']), machine);
    const t = W / 1e6;
    close(e.transfer_seconds, t);
    close(e.by_class.transfers, Math.max(0, t - plain.forward_seconds));
    expect(e.bottleneck).toBe('transfers over the GPU–host link');
  });
});

/** The serving plan and its summary, made in the first test that asks (a mutation run then sees which tests use it). */
let served: ReturnType<typeof serve> | undefined;
function serve() {
  const r = compile('examples/llama2-7b.flex', 'serve');
  const { summary } = summarize(r.module!, r.lowered!, r.decode);
  return { r, summary, gpu: machineOf(r.lowered!.hardware!)!.gpu, serving: summary.serving! };
}

describe('serving against the roofline (Llama 2 7B, fp16, batch 8 on an A800)', () => {
  const [batch, P, D] = [8, 512, 128];
  const [layers, d] = [32, 4096];
  const kvPerToken = 2 * layers * d * 2 * batch; // K and V, fp16, every sequence of the batch

  it('compiles, with the decode steps at the first and the last context', () => {
    const { r, serving } = (served ??= serve());
    expect(r.diagnostics).toEqual([]);
    expect(r.decode!.map((s) => s.context)).toEqual([P + 1, P + D]);
    expect(serving).toMatchObject({ prefill_tokens: P, decode_tokens: D, kv_cache: true });
  });

  it(
    'time to first token: at least the prompt’s 2N FLOPs per token at peak, ' +
      'at most twice that at the compute efficiency',
    () => {
      const { r, gpu, serving, summary } = (served ??= serve());
      const params = summary.parameters.count;
      const flops = 2 * params * batch * P;
      const peak = gpu.peak.f16!;
      expect(serving.time_to_first_token_seconds).toBeGreaterThan(flops / peak);
      const prefill = estimateStep(r.module!, r.lowered!.config, machineOf(r.lowered!.hardware!)!);
      close(serving.time_to_first_token_seconds, prefill.step_seconds);
      // the matrix products dominate: within 2× of 2N·tokens at the compute efficiency
      expect(serving.time_to_first_token_seconds / (flops / (peak * gpu.computeEfficiency))).toBeLessThan(2);
    },
  );

  it(
    'decode: each token reads every weight and the KV cache so far, ' +
      'so it takes at least (weights + cache) / bandwidth',
    () => {
      const { r, summary, gpu, serving } = (served ??= serve());
      const weights = 2 * summary.parameters.count;
      const machine = machineOf(r.lowered!.hardware!)!;
      const [first, last] = r.decode!.map((s) => estimateStep(s.module, r.lowered!.config, machine));
      for (const [e, context] of [
        [first!, P + 1],
        [last!, P + D],
      ] as const) {
        const bytes = weights + kvPerToken * context;
        expect(e.step_seconds).toBeGreaterThan(bytes / gpu.bandwidth);
        // memory-bound kernels at the memory efficiency, plus one launch each, plus the activations' traffic
        const floor = bytes / (gpu.bandwidth * gpu.memoryEfficiency) + e.kernels * gpu.launch;
        expect(e.step_seconds).toBeGreaterThan(floor * 0.95);
        expect(e.step_seconds).toBeLessThan(floor * 1.25);
      }
      // the mean of the first and last steps, per token, and the batch's tokens per second
      close(serving.decode_seconds_per_token, (first!.step_seconds + last!.step_seconds) / 2);
      close(serving.decode_tokens_per_second, batch / serving.decode_seconds_per_token);
      close(summary.time!.step_seconds, serving.time_to_first_token_seconds + D * serving.decode_seconds_per_token, 9);
    },
  );
});

describe('what a step estimate reports besides its time', () => {
  const net = { bandwidth: 5e9, latency: 10e-6 };
  const one = estimate({}, net);
  const adamFlops = trainingStep.values
    .filter((v) => !LEAF_OPS.has(v.op) && classOf(v) === 'optimizer')
    .reduce((a, v) => a + opTime(v, device).flops, 0);

  it('FLOPs executed are every kernel’s; under ZeRO each rank runs 1/n of the optimizer', () => {
    const all = trainingStep.values.filter((v) => !LEAF_OPS.has(v.op)).reduce((a, v) => a + opTime(v, device).flops, 0);
    expect(one.flops.executed).toBe(all);
    expect(one.flops.model).toBe(all);
    expect(adamFlops).toBeGreaterThan(0);
    for (const zero of [0, 1, 3] as const) {
      const e = estimate({ data: 4, zero }, net);
      close(e.flops.executed, zero ? all - adamFlops * (3 / 4) : all, 0);
      expect(e.by_class.optimizer).toBeCloseTo(zero ? one.by_class.optimizer / 4 : one.by_class.optimizer, 15);
    }
    // one GPU: nothing to shard
    expect(estimate({ data: 1, zero: 3 }, net).flops.executed).toBe(all);
  });

  it('kernels: each op that costs time; classes add up to the time of the ops in them', () => {
    const timed = trainingStep.values.filter((v) => !LEAF_OPS.has(v.op) && opTime(v, device).seconds > 0);
    expect(one.kernels).toBe(timed.length);
    const matmul = timed.filter((v) => classOf(v) === 'matmul').reduce((a, v) => a + opTime(v, device).seconds, 0);
    close(one.by_class.matmul, matmul);
    close(
      one.forward_seconds + one.backward_seconds + one.optimizer_seconds,
      timed.reduce((a, v) => a + opTime(v, device).seconds, 0),
    );
  });

  it('the bottleneck names the class that takes longest and the roof that bounds it', () => {
    expect(one.bottleneck).toBe('matmul (compute-bound)');
    // a GPU with a thousand times the FLOP/s and a thousandth of the bandwidth: everything waits on memory
    const starved = estimateStep(
      trainingStep,
      { parallel: { data: 1, zero: 0, offload: [] }, precision: 'fp32', task: trainTask('adam') as PlanConfig['task'] },
      { gpu: { ...device, peak: { f32: 60e15 }, bandwidth: 2e9 }, count: 1 },
    );
    const worst = Object.entries(starved.by_class).sort((a, b) => b[1] - a[1])[0]![0];
    expect(starved.bottleneck).toBe(`${worst} (memory-bound)`);
    const launchBound = estimateStep(
      trainingStep,
      { parallel: { data: 1, zero: 0, offload: [] }, precision: 'fp32', task: trainTask('adam') as PlanConfig['task'] },
      { gpu: { ...device, launch: 10 }, count: 1 },
    );
    expect(launchBound.bottleneck).toMatch(/ \(launch-bound\)$/);
    expect(estimate({ data: 8 }, { bandwidth: 1e6, latency: 0 }).bottleneck).toBe(
      'communication (data-parallel collectives)',
    );
    const slowLink = estimate({ offload: ['optimizer'] }, net, { link: { bandwidth: 1e6, latency: 0 } });
    expect(slowLink.bottleneck).toBe('transfers over the GPU–host link');
  });

  it('tokens and samples per step: a `tokens` input’s elements, else the first data input’s rows, × ranks', () => {
    expect(one.tokens_per_step).toBeUndefined();
    expect(estimate({ data: 3 }, net).samples_per_step).toBe(3 * B);
    const lmWith = (name: string) =>
      runPipeline(
        parseModule(`module @lm {
  %0 = input "step" {feed = "step"} : i32[]
  %1 = input "${name}" : i32[6,5]
  %2 = param "emb" {init = "normal", mean = 0, std = 0.02} : f32[7,4]
  %3 = gather %2, %1 : f32[6,5,4]
  %4 = mul %3, %3 : f32[6,5,4]
  %5 = mean %4 {axes = [0, 1, 2], keepdims = false} : f32[]
  output "loss" = %5
}
`),
        { config: planConfig({ task: trainTask('sgd') }) },
      );
    const lm = lmWith('tokens');
    const cfg = (data: number) => ({
      parallel: { data, zero: 0 as const, offload: [] },
      precision: 'fp32' as const,
      task: trainTask('sgd') as PlanConfig['task'],
    });
    const lmOne = estimateStep(lm, cfg(1), { gpu: device, count: 1 });
    expect(lmOne).toMatchObject({ tokens_per_step: 30, samples_per_step: 6 });
    const lmTwo = estimateStep(lm, cfg(2), { gpu: device, count: 2, network: { ...net, topology: 'ring' } });
    expect(lmTwo).toMatchObject({ tokens_per_step: 60, samples_per_step: 12 });
    // no `tokens`: no token count, and the samples are the rows of the first input that is not the step counter
    const ids = estimateStep(lmWith('ids'), cfg(1), { gpu: device, count: 1 });
    expect(ids.tokens_per_step).toBeUndefined();
    expect(ids.samples_per_step).toBe(6);
  });

  it('MFU is against the peak of the plan’s precision', () => {
    const gpu = { ...device, peak: { f32: 60e12, bf16: 600e12 } };
    for (const [precision, peak] of [
      ['fp32', 60e12],
      ['bf16', 600e12],
    ] as const) {
      const e = estimateStep(
        trainingStep,
        { parallel: { data: 1, zero: 0, offload: [] }, precision, task: trainTask('adam') as PlanConfig['task'] },
        { gpu, count: 1 },
      );
      close(e.mfu, e.flops.model / (e.step_seconds * peak));
    }
  });
});

describe('copies between tiers (offload, reload)', () => {
  it('each costs the link’s latency plus its bytes over its path: the link to host, link and disk to SSD', () => {
    const [R, C] = [1024, 256];
    const bytes = 4 * R * C;
    const m = parseModule(`module @copies {
  %0 = input "x" : f32[${R},${C}]
  %1 = relu %0 : f32[${R},${C}]
  %2 = offload %1 {tier = "host"} : f32[${R},${C}]
  %3 = reload %2 : f32[${R},${C}]
  %4 = offload %1 {tier = "ssd"} : f32[${R},${C}]
  %5 = reload %4 : f32[${R},${C}]
  %6 = add %3, %5 : f32[${R},${C}]
  output "y" = %6
}
`);
    const cfg = {
      parallel: { data: 1, zero: 0 as const, offload: [] },
      precision: 'fp32' as const,
      task: { kind: 'infer' } as PlanConfig['task'],
    };
    const link = { bandwidth: 1e9, latency: 1e-4 };
    const ssd = { read: 5e8, write: 2.5e8 };
    const e = estimateStep(m, cfg, { gpu: device, count: 1, link, ssd });
    const viaSsd = bytes / Math.min(link.bandwidth, ssd.write) + bytes / Math.min(link.bandwidth, ssd.read);
    close(e.transfer_seconds, 4 * link.latency + (2 * bytes) / link.bandwidth + viaSsd);
    // no latency named: none
    const bare = estimateStep(m, cfg, { gpu: device, count: 1, link: { ...link, latency: 0 }, ssd });
    close(bare.transfer_seconds, (2 * bytes) / link.bandwidth + viaSsd);
  });
});

describe('recomputation is its own item of the step, not forward time', () => {
  it('Llama 2 7B, ZeRO-2, checkpoint: all: forward as without checkpointing, recompute the clones', () => {
    const all = compile('examples/llama2-7b.flex', 'pretrain_zero2');
    const none = compile('examples/llama2-7b.flex', 'pretrain_zero2', {
      read: (p) =>
        p.endsWith('examples/llama2-7b.flex')
          ? readFileSync(p, 'utf8').replace('  checkpoint: all\n}', '  checkpoint: none\n}')
          : existsSync(p)
            ? readFileSync(p, 'utf8')
            : undefined,
    });
    const machine = machineOf(all.lowered!.hardware!)!;
    const e = estimateStep(all.module!, all.lowered!.config, machine);
    const plain = estimateStep(none.module!, none.lowered!.config, machine);
    const clones = all.module!.values.filter((v) => v.name?.endsWith('.remat') && !LEAF_OPS.has(v.op));
    expect(clones.length).toBeGreaterThan(100);
    close(
      e.recompute_seconds,
      clones.reduce((a, v) => a + opTime(v, machine.gpu).seconds, 0),
      9,
    );
    expect(rel(e.forward_seconds, plain.forward_seconds)).toBeLessThan(1e-9);
    expect(plain.recompute_seconds).toBe(0);
    close(
      e.step_seconds,
      e.forward_seconds +
        e.recompute_seconds +
        e.backward_seconds +
        e.optimizer_seconds +
        e.by_class.communication +
        e.by_class.transfers,
      9,
    );
  });
});
