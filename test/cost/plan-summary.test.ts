import { describe, expect, it } from 'vitest';
import { planMemory } from '../../compiler/codegen/memory.ts';
import { machineOf } from '../../compiler/cost/device.ts';
import { memoryTimeline } from '../../compiler/cost/memory.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { estimateStep } from '../../compiler/cost/step.ts';
import { exampleFile } from '../helpers/example-file.ts';
import { flopsOf } from '../../compiler/ir/ops/registry.ts';

/**
 * `flexc plan --json`'s summary of GPT tiny under several plans, each field against what it summarises: the module,
 * the cost model's step estimate and memory timeline, the plan's settings.
 */
const TINY = 'model: Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2)\n  bind: { B: 2, T: 8 }';
const compileClean = exampleFile(
  '_plan_summary_test.flex',
  `import { Gpt } from "./gpt"
import { rtx4090, pcie4 } from "std/hardware"

gpu small { memory: 64 KiB, bandwidth: 100 GB/s, fp32: 1 TFLOPS }

hardware Box {
  gpu: rtx4090
  host { memory: 64 GiB, bandwidth: 50 GB/s }
  link gpu <-> host: pcie4
}
hardware Tiny { gpu: small }
hardware Pair {
  gpu x 2: rtx4090
  network { bandwidth: 50 GB/s }
}

plan bare {
  ${TINY}
  task: train { optimizer: adam(lr: 1e-3) }
}
plan every2 {
  ${TINY}
  on: Box
  task: train { optimizer: adam(lr: 1e-3) }
  checkpoint: every(2)
  memory: { gpu: 1 GiB }
}
plan lora {
  ${TINY}
  on: Box
  task: finetune { lora: { rank: 2, alpha: 4, targets: [wqkv] }, optimizer: adamw(lr: 1e-3) }
}
plan cramped {
  ${TINY}
  on: Tiny
  task: train { optimizer: sgd(lr: 0.1) }
}
plan ddp {
  ${TINY}
  on: Pair
  task: train { optimizer: adam(lr: 1e-3) }
  parallel: { data: 2 }
  checkpoint: all
}
plan serve {
  model: Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2)
  on: Box
  bind: { B: 2 }
  task: infer { prefill: 4, decode: 3 }
}
`,
);

function summary(plan: string) {
  const r = compileClean(plan);
  return { r, ...summarize(r.module!, r.lowered!, r.decode) };
}
const elements = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

describe('plan summary', () => {
  it('a plan without hardware: memory and FLOPs only, every timing null', () => {
    const { r, summary: s, timeline } = summary('bare');
    const m = r.module!;
    const params = m.values.filter((v) => v.op === 'param');
    const count = params.reduce((a, v) => a + elements(v.type.shape as number[]), 0);
    expect(s).toMatchObject({
      plan: 'bare',
      task: 'train',
      parameters: { count, trained: count },
      precision: 'fp32',
      checkpoint: 'none',
      budget_bytes: null,
      hardware: null,
      time: null,
      throughput: null,
      mfu: null,
      bottleneck: null,
      flops: { step: flopsOf(m.values), recompute: 0, recompute_percent: 0 },
    });
    expect(s.memory.gpu).toMatchObject({
      capacity_bytes: null,
      fits: null,
      arena_bytes: planMemory(m).arenaBytes,
      arena_bytes_without_checkpointing: planMemory(m).arenaBytes,
      checkpointing: {
        measured: 'arena',
        bytes_without: planMemory(m).arenaBytes,
        bytes_with: planMemory(m).arenaBytes,
      },
      peak_bytes: timeline.gpu.peak_bytes,
      model_states_bytes: timeline.gpu.model_states_bytes,
    });
    expect(s.serving).toBeUndefined();
  });

  it('checkpointed on a GPU: the pass’s report, the step estimate, throughput per second', () => {
    const { r, summary: s } = summary('every2');
    const m = r.module!;
    const ck = m.checkpoint!;
    expect(ck.recomputeFlops).toBeGreaterThan(0);
    expect(s).toMatchObject({ checkpoint: 'every(2)', budget_bytes: 2 ** 30, hardware: 'Box' });
    expect(s.memory.gpu).toMatchObject({
      capacity_bytes: 24 * 2 ** 30,
      fits: true,
      arena_bytes: ck.bytesWith,
      arena_bytes_without_checkpointing: ck.bytesWithout,
      checkpointing: { measured: 'arena', bytes_without: ck.bytesWithout, bytes_with: ck.bytesWith },
    });
    const flops = flopsOf(m.values);
    expect(s.flops).toEqual({
      step: flops,
      recompute: ck.recomputeFlops,
      recompute_percent: Number(((100 * ck.recomputeFlops) / flops).toFixed(2)),
    });
    const est = estimateStep(m, r.lowered!.config, machineOf(r.lowered!.hardware!)!);
    expect(s.mfu).toBe(est.mfu);
    expect(s.bottleneck).toBe(est.bottleneck);
    expect(s.time!.step_seconds).toBe(est.step_seconds);
    expect(s.time).not.toHaveProperty('flops');
    expect(s.time).not.toHaveProperty('tokens_per_step');
    expect(est.tokens_per_step).toBe(2 * 8);
    expect(s.throughput).toEqual({
      tokens_per_second: 16 / est.step_seconds,
      samples_per_second: est.samples_per_step / est.step_seconds,
    });
    expect(est.samples_per_step).toBe(2);
  });

  it('LoRA is `finetune`, and only the adapters are trained', () => {
    const { summary: s } = summary('lora');
    expect(s.task).toBe('finetune');
    expect(s.parameters.trained).toBeGreaterThan(0);
    expect(s.parameters.trained).toBeLessThan(s.parameters.count / 2);
  });

  it('a GPU too small for the step: fits is false, against its capacity', () => {
    const { summary: s } = summary('cramped');
    expect(s.memory.gpu.capacity_bytes).toBe(64 * 1024);
    expect(s.memory.gpu.peak_bytes).toBeGreaterThan(64 * 1024);
    expect(s.memory.gpu.fits).toBe(false);
  });

  it('data parallel: the pass measured one rank’s peak, so there is no arena without checkpointing', () => {
    const { r, summary: s } = summary('ddp');
    const ck = r.module!.checkpoint!;
    expect(ck.measured).toBe('per-gpu');
    expect(s.memory.gpu.arena_bytes).toBe(planMemory(r.module!).arenaBytes);
    expect(s.memory.gpu.arena_bytes_without_checkpointing).toBeNull();
    expect(s.memory.gpu.checkpointing).toEqual({
      measured: 'per-gpu',
      bytes_without: ck.bytesWithout,
      bytes_with: ck.bytesWith,
    });
    expect(s.parallel).toEqual({ data: 2, zero: 0, offload: [] });
    expect(s.memory.gpu.peak_bytes).toBe(memoryTimeline(r.module!, r.lowered!.config).gpu.peak_bytes);
  });

  it('serving: the request’s FLOPs are the prefill’s and every decode step’s', () => {
    const { r, summary: s } = summary('serve');
    const decode = r.decode!;
    expect(decode.length).toBeGreaterThan(0);
    const perDecode = decode.reduce((a, d) => a + flopsOf(d.module.values), 0) / decode.length;
    expect(s.flops.step).toBeCloseTo(flopsOf(r.module!.values) + 3 * perDecode, 6);
    expect(perDecode).toBeGreaterThan(0);
    expect(s.task).toBe('infer');
    expect(s.serving).toMatchObject({ prefill_tokens: 4, decode_tokens: 3 });
    expect(s.time!.step_seconds).toBeGreaterThan(0);
    // no training step, no checkpointing: the arena is the module's
    const arena = planMemory(r.module!).arenaBytes;
    expect(s.memory.gpu).toMatchObject({
      arena_bytes: arena,
      arena_bytes_without_checkpointing: arena,
      checkpointing: null,
    });
    // generated tokens (batch 2 × 3 decode steps) per request
    expect(s.throughput!.tokens_per_second).toBeCloseTo((2 * 3) / s.time!.step_seconds, 6);
    expect(s.throughput!.samples_per_second).toBeCloseTo(2 / s.time!.step_seconds, 6);
  });
});
