import { describe, expect, it } from 'vitest';
import { memoryTimeline } from '../../compiler/cost/memory.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import type { PlanConfig } from '../../compiler/sema/plan.ts';

/**
 * The memory model on a step small enough to add up by hand: y = x @ W, with x f32[B, K] and W
 * f32[K, N] (inference: no gradients or optimizer state). The closed forms are written here from
 * the ZeRO paper's definitions (Rajbhandari et al. 2020), not from the model's code: stage 3 keeps
 * 1/n of W per rank and gathers the whole of W for the op that reads it; offloading parameters
 * keeps none of W on the GPU and brings all of it in for the op.
 */
const [B, K, N] = [8, 64, 32];
const X = B * K * 4;
const W = K * N * 4;
const Y = B * N * 4;

function step(): Module {
  const b = new Builder();
  const x = b.leaf('input', 'x', { dtype: 'f32', shape: [B, K] });
  const w = b.leaf('param', 'w', { dtype: 'f32', shape: [K, N] });
  const y = b.op('matmul', [x, w]);
  return { name: 'step', values: b.values, outputs: [{ name: 'y', value: y }], updates: [] };
}
const infer = { kind: 'infer' } as const;

describe('GPU memory of one op in closed form', () => {
  it('no sharding: x + W + y at the op', () => {
    const t = memoryTimeline(step(), { parallel: { data: 4, zero: 0, offload: [] }, task: infer });
    expect(t.gpu.peak_bytes).toBe(X + W + Y);
    expect(t.gpu.at_peak.workspace).toBe(0);
  });

  it('ZeRO-3 over 4 ranks: W/4 held, the other 3/4 gathered into workspace while the op runs', () => {
    const t = memoryTimeline(step(), { parallel: { data: 4, zero: 3, offload: [] }, task: infer });
    expect(t.gpu.at_peak.parameters).toBe(W / 4);
    expect(t.gpu.at_peak.workspace).toBe((3 * W) / 4);
    expect(t.gpu.peak_bytes).toBe(X + W + Y);
    expect(t.gpu.model_states_bytes).toBe(W / 4);
  });

  it('parameters offloaded to the host: none held on the GPU, all of W brought in for the op', () => {
    const t = memoryTimeline(step(), { parallel: { data: 1, zero: 0, offload: ['params'] }, task: infer });
    expect(t.gpu.at_peak.parameters).toBe(0);
    expect(t.gpu.at_peak.workspace).toBe(W);
    expect(t.host.peak_bytes).toBe(W);
  });

  it('ZeRO-3 with offloaded parameters over 4 ranks: each host holds W/4, the GPU gathers all of W', () => {
    const t = memoryTimeline(step(), { parallel: { data: 4, zero: 3, offload: ['params'] }, task: infer });
    expect(t.gpu.at_peak.workspace).toBe(W);
    expect(t.host.peak_bytes).toBe(W / 4);
  });
});

/**
 * A whole training step (x f32[8,4] @ W f32[4,6], squared, averaged; Adam), its IR written out so that the figures
 * below, added up by hand op by op, stay those of this program. W = 96 bytes; x 128; the step counter 4.
 */
const TRAIN = parseModule(`module @train {
  %0 = input "x" : f32[8,4]
  %1 = param "w" {init = "normal", mean = 0, std = 0.02} : f32[4,6]
  %2 = matmul %0, %1 : f32[8,6]
  %3 = mul %2, %2 : f32[8,6]
  %4 = mean %3 {axes = [0, 1], keepdims = false} : f32[]
  %5 = const {dtype = "f32", value = 1} : f32[] "loss.grad"
  %6 = reshape %5 {shape = [1, 1]} : f32[1,1]
  %7 = broadcast_to %6 {shape = [8, 6]} : f32[8,6]
  %8 = const {dtype = "f32", value = 0.020833333333333332} : f32[]
  %9 = mul %7, %8 : f32[8,6]
  %10 = mul %9, %2 : f32[8,6]
  %11 = mul %9, %2 : f32[8,6]
  %12 = add %10, %11 : f32[8,6]
  %13 = matmul %0, %12 {ta = true} : f32[4,6]
  %14 = state "w.adam_m" {init = "zeros"} : f32[4,6]
  %15 = state "w.adam_v" {init = "zeros"} : f32[4,6]
  %16 = adam_m %14, %13 {beta = 0.9} : f32[4,6] "w.update"
  %17 = adam_v %15, %13 {beta = 0.999} : f32[4,6] "w.update"
  %18 = input "step" {feed = "step"} : i32[]
  %19 = adam_step %1, %16, %17, %18 {beta1 = 0.9, beta2 = 0.999, decay = 0, eps = 1e-8, lr = 1e-3} : f32[4,6] "w.update"
  output "loss" = %4
  output "grad:w" = %13
  update "w" = %19
  update "w.adam_m" = %16
  update "w.adam_v" = %17
}
`);
const TW = 96;
const train = { kind: 'train', loss: 'loss' } as unknown as PlanConfig['task'];
const timeline = (parallel: Partial<PlanConfig['parallel']>, opts = {}) =>
  memoryTimeline(TRAIN, { parallel: { data: 1, zero: 0, offload: [], ...parallel }, task: train }, opts);

describe('GPU and host memory of a training step in closed form', () => {
  it('the peak is at the second product of the backward pass, by category', () => {
    const t = timeline({});
    // held throughout: W, Adam's m and v, x and the step counter; at %11: x @ W (%2), and %9, %10, %11 of the
    // backward pass; the loss (an output) is kept
    expect(t.gpu.at_peak).toEqual({
      parameters: TW,
      gradients: 0,
      optimizer: 2 * TW,
      activations: 128 + 4 + 192 + 4,
      kv_cache: 0,
      workspace: 3 * 192,
    });
    expect(t.gpu.peak_bytes).toBe(1192);
    expect(t.gpu.model_states_bytes).toBe(4 * TW);
    expect(t.host).toEqual({ peak_bytes: 0, at_peak: expect.any(Object), model_states_bytes: 0 });
  });

  it('one point per op that runs, the backward pass starting at the loss’s seed gradient', () => {
    const t = timeline({});
    expect(t.points.length).toBe(15);
    expect(t.backwardAt).toBe(3);
    // after x @ W: the leaves and its 192 bytes; after the gradient of W: it is the only gradient held
    expect(t.points[0]).toMatchObject({ parameters: TW, optimizer: 2 * TW, activations: 132 + 192, workspace: 0 });
    expect(t.points[11]).toMatchObject({ gradients: TW });
    // the optimizer writes W, m and v in place; the gradient is an output, kept to the end
    expect(t.points.at(-1)).toEqual({
      parameters: TW,
      gradients: TW,
      optimizer: 2 * TW,
      activations: 132 + 4,
      kv_cache: 0,
      workspace: 0,
    });
    expect(timeline({}, { points: false }).points).toEqual([]);
    expect(timeline({}, { points: false }).gpu).toEqual(t.gpu);
    expect(
      memoryTimeline(step(), { parallel: { data: 1, zero: 0, offload: [] }, task: infer }).backwardAt,
    ).toBeUndefined();
  });

  it('ZeRO over 4 ranks: model states of 4Ψ become 2.5Ψ, 1.75Ψ and Ψ at stages 1, 2 and 3', () => {
    expect(timeline({ data: 4, zero: 1 }).gpu.model_states_bytes).toBe(2.5 * TW);
    expect(timeline({ data: 4, zero: 2 }).gpu.model_states_bytes).toBe(1.75 * TW);
    expect(timeline({ data: 4, zero: 3 }).gpu.model_states_bytes).toBe(TW);
    expect(timeline({ data: 4, zero: 1 }).gpu.at_peak).toMatchObject({ parameters: TW, optimizer: TW / 2 });
    expect(timeline({ data: 4, zero: 3 }).gpu.at_peak).toMatchObject({ parameters: TW / 4, optimizer: TW / 2 });
    // the gradient is sharded from stage 2: at its op, W/4 of it
    expect(timeline({ data: 4, zero: 1 }).points[11]!.gradients).toBe(TW);
    expect(timeline({ data: 4, zero: 2 }).points[11]!.gradients).toBe(TW / 4);
  });

  it('offloading the optimizer moves m and v to the host (each rank’s share under ZeRO); parameters likewise', () => {
    const opt = timeline({ offload: ['optimizer'] });
    expect(opt.gpu.at_peak.optimizer).toBe(0);
    expect(opt.gpu.model_states_bytes).toBe(2 * TW);
    expect(opt.host).toEqual({
      peak_bytes: 2 * TW,
      at_peak: { parameters: 0, gradients: 0, optimizer: 2 * TW, activations: 0, kv_cache: 0, workspace: 0 },
      model_states_bytes: 2 * TW,
    });
    expect(timeline({ data: 4, zero: 1, offload: ['optimizer'] }).host.peak_bytes).toBe(TW / 2);
    const params = timeline({ offload: ['params'] });
    expect(params.gpu.at_peak.parameters).toBe(0);
    expect(params.host.at_peak).toMatchObject({ parameters: TW, optimizer: 0 });
    // ZeRO-2 does not shard parameters: each host holds all of W; ZeRO-3 a quarter
    expect(timeline({ data: 4, zero: 2, offload: ['params'] }).host.peak_bytes).toBe(TW);
    expect(timeline({ data: 4, zero: 3, offload: ['params'] }).host.peak_bytes).toBe(TW / 4);
  });
});
