import { describe, expect, it } from 'vitest';
import type { Value } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { getOp } from '../../compiler/ir/ops/registry.ts';
import { sliceOf } from '../../compiler/ir/ops/util.ts';
import { relErr } from '../helpers/oracle.ts';
import { expectSameSteps } from './check.ts';

const FILE = 'test/partition/models.flex';

/** A seeded array of `shape` in [−2, 2). */
function random(shape: number[], seed: number): NDArray {
  const data = new Float64Array(shape.reduce((a, d) => a * d, 1));
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    data[i] = (s / 2 ** 31) * 4 - 2;
  }
  return { data, shape };
}

const ints = (xs: number[], shape: number[]): NDArray => ({ data: Int32Array.from(xs), shape });
const stub = (op: string, ranks: number) => ({ op, attrs: { group: 'tensor', ranks } }) as unknown as Value;

/**
 * The vocabulary-parallel ops over three ranks, each holding a third of the classes, against the plain ops on the
 * whole table or logits (their CPU references): the embedding, the cross-entropy and both gradients.
 */
describe('vocabulary-parallel collectives = the plain ops on the whole', () => {
  const n = 3;
  const ids = ints([0, 8, 3, 5, 7, 2], [2, 3]);
  const ctx = { floats: (k: number) => new Float64Array(k), step: 1 };
  const one = (op: string, inputs: NDArray[], shape: number[]) =>
    getOp(op).ref(inputs, { op, attrs: {}, inputs: [], type: { dtype: 'f32', shape } } as unknown as Value, ctx);

  it('embedding and its gradient', () => {
    const table = random([9, 4], 7);
    const shards = [0, 1, 2].map((r) => sliceOf(table, 0, n, r));
    const got = getOp('vp_embed').collective!(
      shards.map((s) => [s, ids]),
      stub('vp_embed', n),
    );
    const want = one('gather', [table, ids], [2, 3, 4]);
    for (const g of got) expect(relErr(g.data, want.data)).toBeLessThan(1e-12);
    const dy = random([2, 3, 4], 11);
    const grads = getOp('vp_embed_grad').collective!(
      shards.map((s) => [s, ids, dy]),
      stub('vp_embed_grad', n),
    );
    const zero = { data: new Float64Array(36), shape: [9, 4] };
    const whole = one('scatter_add', [zero, ids, dy], [9, 4]);
    grads.forEach((g, r) => expect(relErr(g.data, sliceOf(whole, 0, n, r).data)).toBeLessThan(1e-12));
  });

  it('cross-entropy and its gradient', () => {
    const logits = random([2, 3, 9], 5);
    const shards = [0, 1, 2].map((r) => sliceOf(logits, 2, n, r));
    const got = getOp('vp_cross_entropy').collective!(
      shards.map((s) => [s, ids]),
      stub('vp_cross_entropy', n),
    );
    const want = one('cross_entropy', [logits, ids], []);
    for (const g of got) expect(relErr(g.data, want.data)).toBeLessThan(1e-12);
    const dy = { data: Float64Array.of(0.7), shape: [] };
    const grads = getOp('vp_cross_entropy_grad').collective!(
      shards.map((s) => [s, ids, dy]),
      stub('vp_cross_entropy_grad', n),
    );
    const whole = one('cross_entropy_grad', [logits, ids, dy], [2, 3, 9]);
    grads.forEach((g, r) => expect(relErr(g.data, sliceOf(whole, 2, n, r).data)).toBeLessThan(1e-12));
  });
});

describe('vocabulary parallelism: simulated ranks = one device', () => {
  it('gpt (vocabulary 12), tensor 2: the embedding, tied output layer and loss split by classes', () => {
    const r = expectSameSteps(FILE, 'gpt12', 'gpt12_tp2', { tensor: 2 });
    const ops = r.values.map((v) => v.op);
    for (const op of ['vp_embed', 'vp_embed_grad', 'vp_cross_entropy', 'vp_cross_entropy_grad'])
      expect(ops, op).toContain(op);
    expect(r.values.find((v) => v.op === 'param' && v.attrs['name'] === 'wte')!.type.shape).toEqual([6, 16]);
  });

  it('the same with sequence parallelism, pipeline 2 and data 2 (8 ranks, 2 micro-batches a replica)', () => {
    expectSameSteps(FILE, 'gpt12_b4', 'gpt12_3d_sp', { tensor: 2, pipeline: 2, data: 2 });
  });

  it('a vocabulary the ranks do not divide is padded (11 classes to 12), never looked up nor scored', () => {
    const r = expectSameSteps(FILE, 'gpt', 'gpt_tp2', { tensor: 2 });
    const wte = r.values.find((v) => v.op === 'param' && v.attrs['name'] === 'wte')!;
    expect(wte.type.shape).toEqual([6, 16]);
    expect(wte.attrs['shard_pad']).toBe(1);
    expect(r.values.find((v) => v.op === 'vp_cross_entropy')!.attrs['classes']).toBe(11);
    // the logits output is the 11 classes, all-gathered and cut
    expect(r.outputs.find((o) => o.name === 'logits')!.value.type.shape).toEqual([2, 8, 11]);
  });
});
