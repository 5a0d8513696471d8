import { describe, expect, it } from 'vitest';
import { memoryTimeline } from '../../compiler/cost/memory.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import type { Module } from '../../compiler/ir/graph.ts';

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
