import { describe, expect, it } from 'vitest';
import { allGather, allReduce, allToAll, reduceScatter } from '../../compiler/cost/collectives.ts';
import type { Device, Machine } from '../../compiler/cost/device.ts';
import { opTime } from '../../compiler/cost/op-time.ts';
import { estimateStep } from '../../compiler/cost/step.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import { OPS } from '../../compiler/ir/ops/registry.ts';

/**
 * The time side of the cost model against closed forms written here: the ring collectives of
 * Patarasuk & Yuan (2009) as NCCL's tests state them (all-reduce moves 2(n−1)/n of the bytes per
 * GPU in 2(n−1) steps), the roofline (Williams et al. 2009), MFU as model FLOPs over time × peak
 * (Chowdhery et al. 2022), and parameters streamed over the GPU–host link when offloaded.
 */
const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 12);

describe('ring collectives', () => {
  const f = { n: 8, bandwidth: 100e9, latency: 5e-6 };
  const S = 1e9;
  it('reduce-scatter and all-gather: (n−1) steps of S/n bytes; all-reduce: both; nothing on one GPU', () => {
    close(reduceScatter(S, f), 7 * (S / 8 / 100e9 + 5e-6));
    close(allGather(S, f), 7 * (S / 8 / 100e9 + 5e-6));
    close(allReduce(S, f), 2 * 7 * (S / 8 / 100e9) + 2 * 7 * 5e-6);
    expect(allReduce(S, { ...f, n: 1 })).toBe(0);
  });
  it('all-to-all: (n−1)/n of the bytes leave each GPU, in n−1 messages', () => {
    close(allToAll(S, f), (7 / 8) * (S / 100e9) + 7 * 5e-6);
  });
  it('the bus bandwidth NCCL reports for all-reduce, S/t · 2(n−1)/n, is the link bandwidth without latency', () => {
    const t = allReduce(S, { ...f, latency: 0 });
    close(((S / t) * 2 * 7) / 8, 100e9);
  });
});

const device: Device = {
  memory: 80e9,
  bandwidth: 2e12,
  peak: { f32: 60e12 },
  computeEfficiency: 0.7,
  memoryEfficiency: 0.8,
  gatherEfficiency: 0.8,
  launch: 5e-6,
};

function matmulStep(m: number, k: number, n: number): Module {
  const b = new Builder();
  const x = b.leaf('input', 'x', { dtype: 'f32', shape: [m, k] });
  const w = b.leaf('param', 'w', { dtype: 'f32', shape: [k, n] });
  return { name: 's', values: b.values, outputs: [{ name: 'y', value: b.op('matmul', [x, w]) }], updates: [] };
}

describe('reads by row index (gather_efficiency)', () => {
  it("a graph product's dense operand at the gather efficiency, the rest of its traffic streamed", () => {
    const b = new Builder();
    const [n, nnz, f] = [100_000, 2_000_000, 128];
    const ptr = b.leaf('input', 'ptr', { dtype: 'i32', shape: [n + 1] });
    const idx = b.leaf('input', 'idx', { dtype: 'i32', shape: [nnz] });
    const val = b.leaf('input', 'val', { dtype: 'f32', shape: [nnz] });
    const x = b.leaf('input', 'x', { dtype: 'f32', shape: [n, f] });
    const y = b.op('spmm_csr', [ptr, idx, val, x], { cols: n });
    const slow = { ...device, gatherEfficiency: 0.2 };
    const { bytes } = OPS.get('spmm_csr')!.cost(y);
    const xBytes = 4 * n * f;
    const t = opTime(y, slow);
    expect(t.bound).toBe('memory');
    close(t.seconds, (bytes - xBytes) / (2e12 * 0.8) + xBytes / (2e12 * 0.2) + 5e-6);
    // a gather reads and writes nothing but rows by index; without the field, the stream's efficiency
    const g = b.op('gather', [x, idx]);
    close(opTime(g, slow).seconds, OPS.get('gather')!.cost(g).bytes / (2e12 * 0.2) + 5e-6);
    close(opTime(g, device).seconds, OPS.get('gather')!.cost(g).bytes / (2e12 * 0.8) + 5e-6);
  });
});

describe('the roofline of one matmul, and a step of it', () => {
  it('a large matmul is compute-bound: 2MKN / (peak · efficiency) + launch', () => {
    const s = matmulStep(4096, 4096, 4096);
    const t = opTime(s.values.at(-1)!, device);
    expect(t.bound).toBe('compute');
    close(t.seconds, (2 * 4096 ** 3) / (60e12 * 0.7) + 5e-6);
  });
  it('a thin matmul is memory-bound: 4(MK + KN + MN) / (bandwidth · efficiency) + launch', () => {
    const s = matmulStep(1, 8192, 8192);
    const t = opTime(s.values.at(-1)!, device);
    expect(t.bound).toBe('memory');
    close(t.seconds, (4 * (8192 + 8192 * 8192 + 8192)) / (2e12 * 0.8) + 5e-6);
  });
  it('a view (a reshape) launches no kernel and takes no time; a tiny op is bounded by its launch', () => {
    const b = new Builder();
    const x = b.leaf('input', 'x', { dtype: 'f32', shape: [4, 8] });
    const view = opTime(b.op('reshape', [x], { shape: [32] }), device);
    expect(view).toMatchObject({ seconds: 0, flops: 0, bytes: 0, bound: 'launch' });
    // an op that only moves data (a gather: no FLOPs) is a kernel all the same, memory-bound
    const table = b.leaf('param', 'table', { dtype: 'f32', shape: [50_000, 1024] });
    const ids = b.leaf('input', 'ids', { dtype: 'i32', shape: [4096] });
    const g = b.op('gather', [table, ids]);
    const moved = OPS.get('gather')!.cost(g);
    expect(moved.flops).toBe(0);
    expect(opTime(g, device)).toMatchObject({ bound: 'memory', seconds: moved.bytes / (2e12 * 0.8) + 5e-6 });
    const tiny = opTime(b.op('add', [x, x]), device);
    expect(tiny.bound).toBe('launch');
    close(tiny.seconds, Math.max(32 / (60e12 * 0.7), (3 * 32 * 4) / (2e12 * 0.8)) + 5e-6);
  });
  it('inference: the step is the op; MFU is its FLOPs over step time × peak', () => {
    const s = matmulStep(4096, 4096, 4096);
    const machine: Machine = { gpu: device, count: 1 };
    const e = estimateStep(
      s,
      { parallel: { data: 1, zero: 0, offload: [] }, precision: 'fp32', task: { kind: 'infer' } },
      machine,
    );
    const t = (2 * 4096 ** 3) / (60e12 * 0.7) + 5e-6;
    close(e.step_seconds, t);
    close(e.mfu, (2 * 4096 ** 3) / (t * 60e12));
    expect(e.mfu).toBeLessThan(0.7);
  });
  it('parameters offloaded to the host: the step also streams W over the link, hidden behind compute', () => {
    const s = matmulStep(4096, 4096, 4096);
    const W = 4096 * 4096 * 4;
    const parallel = { data: 1, zero: 0 as const, offload: ['params' as const] };
    const slow: Machine = { gpu: device, count: 1, link: { bandwidth: 1e9, latency: 0 } };
    const e = estimateStep(s, { parallel, precision: 'fp32', task: { kind: 'infer' } }, slow);
    const compute = (2 * 4096 ** 3) / (60e12 * 0.7) + 5e-6;
    close(e.transfer_seconds, W / 1e9);
    // the transfer overlaps the forward pass: only what is left of it adds to the step
    close(e.step_seconds, compute + Math.max(0, W / 1e9 - compute));
    const fast = estimateStep(
      s,
      { parallel, precision: 'fp32', task: { kind: 'infer' } },
      { ...slow, link: { bandwidth: 1e15, latency: 0 } },
    );
    close(fast.step_seconds, compute);
  });
});
