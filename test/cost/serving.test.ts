import { describe, expect, it } from 'vitest';
import { machineOf } from '../../compiler/cost/device.ts';
import { memoryTimeline } from '../../compiler/cost/memory.ts';
import { estimateServing, servingTimeline } from '../../compiler/cost/serving.ts';
import { estimateStep } from '../../compiler/cost/step.ts';
import { exampleFile } from '../helpers/example-file.ts';

/**
 * A serving request as one step: the prompt's pass plus `decode` token steps, each figure against the step estimates
 * of the prefill and decode modules added up here (the decode steps' cost is linear in the context, so their sum is
 * `decode` × the mean of the first and the last).
 */
const compileClean = exampleFile(
  '_serving_test.flex',
  `import { Gpt } from "./gpt"
import { rtx4090 } from "std/hardware"

hardware Box { gpu: rtx4090 }

plan serve {
  model: Gpt(vocab: 11, ctx: 16, d: 16, heads: 2, depth: 2)
  on: Box
  bind: { B: 3 }
  task: infer { prefill: 4, decode: 9 }
  precision: fp16
}
plan prompt {
  model: Gpt(vocab: 11, ctx: 16, d: 16, heads: 2, depth: 2)
  on: Box
  bind: { B: 3 }
  task: infer { prefill: 4, decode: 0 }
}
`,
);

function request(plan: string) {
  const r = compileClean(plan);
  const config = r.lowered!.config;
  const serve = config.task.kind === 'infer' ? config.task.serve! : undefined;
  const machine = machineOf(r.lowered!.hardware!)!;
  return { r, config, serve: serve!, machine, ...estimateServing(r.module!, r.decode ?? [], serve!, config, machine) };
}

describe('a serving request', () => {
  it('adds the prefill and n times the mean decode step, field by field', () => {
    const { r, config, serve, machine, step, serving } = request('serve');
    const first = estimateStep(r.module!, config, machine);
    const decode = r.decode!.map((d) => estimateStep(d.module, config, machine));
    expect(decode.length).toBe(2);
    const n = 9;
    const sum = (f: (e: typeof first) => number) => f(first) + (n * (f(decode[0]!) + f(decode[1]!))) / 2;
    const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 12);
    const fields: ((e: typeof first) => number)[] = [
      (e) => e.step_seconds,
      (e) => e.forward_seconds,
      (e) => e.communication_seconds,
      (e) => e.transfer_seconds,
      (e) => e.flops.executed,
      (e) => e.flops.model,
      (e) => e.by_class.matmul,
      (e) => e.by_class.attention,
    ];
    for (const f of fields) close(f(step), sum(f));
    expect([step.backward_seconds, step.optimizer_seconds]).toEqual([0, 0]);
    expect(step.flops.model).toBeGreaterThan(first.flops.model);
    expect(step.kernels).toBe(Math.round(sum((e) => e.kernels)));
    expect(step.samples_per_step).toBe(3);
    expect(step.tokens_per_step).toBe(3 * n);
    // MFU at the fp16 peak
    close(step.mfu, step.flops.model / (step.step_seconds * machine.gpu.peak.f16!));
    expect(machine.gpu.peak.f16).not.toBe(machine.gpu.peak.f32);
    const perToken = (decode[0]!.step_seconds + decode[1]!.step_seconds) / 2;
    expect(serving).toEqual({
      prefill_tokens: 4,
      decode_tokens: n,
      kv_cache: serve.kvCache,
      time_to_first_token_seconds: first.step_seconds,
      decode_seconds_per_token: perToken,
      decode_tokens_per_second: 3 / perToken,
    });
    // nine tokens take longer than the prompt's pass: the request is bound by its decoding
    expect(n * perToken).toBeGreaterThan(first.step_seconds);
    expect(step.bottleneck).toBe(`${decode[1]!.bottleneck} while decoding`);
  });

  it('without decode steps: the prompt’s tokens, the prefill’s bottleneck, no decode rate', () => {
    const { r, config, machine, step, serving } = request('prompt');
    const first = estimateStep(r.module!, config, machine);
    expect(r.decode ?? []).toEqual([]);
    expect(step.step_seconds).toBe(first.step_seconds);
    expect(step.tokens_per_step).toBe(3 * 4);
    expect(step.bottleneck).toBe(`${first.bottleneck} in the prefill`);
    expect(step.mfu).toBeCloseTo(first.flops.model / (first.step_seconds * machine.gpu.peak.f32!), 12);
    expect(serving).toMatchObject({ decode_tokens: 0, decode_seconds_per_token: 0, decode_tokens_per_second: 0 });
  });

  it('memory: the larger peak of the prompt’s pass and the longest decode step, points of both', () => {
    const { r, config } = request('serve');
    const a = memoryTimeline(r.module!, config);
    const b = memoryTimeline(r.decode!.at(-1)!.module, config);
    const t = servingTimeline(r.module!, r.decode!, config);
    const larger = b.gpu.peak_bytes > a.gpu.peak_bytes ? b : a;
    expect(t.gpu).toEqual(larger.gpu);
    expect(t.host).toEqual(larger.host);
    expect(t.points).toEqual([...a.points, ...b.points]);
    expect(a.gpu.peak_bytes).not.toBe(b.gpu.peak_bytes);
    // the first decode step's is not the one that counts
    const first = memoryTimeline(r.decode![0]!.module, config);
    expect(t.points.length).toBe(a.points.length + b.points.length);
    expect(first.gpu.peak_bytes).toBeLessThanOrEqual(b.gpu.peak_bytes);
    const prompt = request('prompt');
    expect(servingTimeline(prompt.r.module!, [], prompt.config)).toEqual(
      memoryTimeline(prompt.r.module!, prompt.config),
    );
  });
});
