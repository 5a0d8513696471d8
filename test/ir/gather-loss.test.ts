import { describe, expect, it } from 'vitest';
import { IndexOutOfRange } from '../../compiler/ir/op.ts';
import { getOp } from '../../compiler/ir/ops/registry.ts';
import { ShapeError, type TensorType } from '../../compiler/ir/types.ts';
import { opValue, refContext } from '../helpers/op-value.ts';

/**
 * gather, scatter_add and cross_entropy: what they refuse (with their messages), what they cost, indices out of range
 * in the data, and cross-entropy's gradient on logits large enough to overflow a softmax without its max shift.
 */
const t = (dtype: 'f32' | 'i32', ...shape: number[]): TensorType => ({ dtype, shape });
const ctx = refContext(true);
const nd = (data: number[], shape: number[], int = false) => ({
  data: int ? Int32Array.from(data) : Float64Array.from(data),
  shape,
});

describe('gather and scatter_add', () => {
  it.each([
    ['gather', [t('f32'), t('i32', 2)], 'gather (table)'],
    ['gather', [t('f32', 4, 2), t('f32', 2)], 'gather indices must be i32, got f32'],
    ['scatter_add', [t('f32'), t('i32', 2), t('f32', 2)], 'scatter_add (base)'],
    ['scatter_add', [t('f32', 4, 2), t('f32', 2), t('f32', 2, 2)], 'scatter_add indices must be i32, got f32'],
    ['scatter_add', [t('f32', 4, 2), t('i32', 2), t('f32', 2, 3)], 'scatter_add updates are [2,3], expected [2,2]'],
    ['scatter_add', [t('f32', 4, 2), t('i32', 2), t('f32', 2)], 'scatter_add updates are [2], expected [2,2]'],
  ] as const)('%s refuses %j', (op, ins, message) => {
    expect(() => getOp(op).infer([...ins], {})).toThrow(ShapeError);
    expect(() => getOp(op).infer([...ins], {})).toThrow(message);
  });

  it('gather picks rows; scatter_add adds them back; both cost what they move', () => {
    const table = nd([1, 2, 3, 4, 5, 6], [3, 2]);
    const idx = nd([2, 0, 2], [3], true);
    const g = opValue('gather', [t('f32', 3, 2), t('i32', 3)]);
    expect(g.type).toEqual(t('f32', 3, 2));
    expect(Array.from(getOp('gather').ref([table, idx], g, ctx).data)).toEqual([5, 6, 1, 2, 5, 6]);
    // every byte it moves is a row picked by index
    expect(getOp('gather').cost(g)).toEqual({ flops: 0, bytes: 2 * 24 + 12, gathered: 2 * 24 + 12 });
    const s = opValue('scatter_add', [t('f32', 3, 2), t('i32', 3), t('f32', 3, 2)]);
    const upd = nd([10, 20, 30, 40, 50, 60], [3, 2]);
    expect(Array.from(getOp('scatter_add').ref([table, idx, upd], s, ctx).data)).toEqual([31, 42, 3, 4, 65, 86]);
  });

  it.each([-1, 3, Number.NaN])('an index of %d in the data is out of range, named', (bad) => {
    const g = opValue('gather', [t('f32', 3, 2), t('i32', 1)]);
    const table = nd([1, 2, 3, 4, 5, 6], [3, 2]);
    const idx = { data: Float64Array.from([bad]), shape: [1] };
    expect(() => getOp('gather').ref([table, idx], g, ctx)).toThrow(IndexOutOfRange);
    expect(() => getOp('gather').ref([table, idx], g, ctx)).toThrow(`gather: index ${bad} is out of range for 3 rows`);
    const s = opValue('scatter_add', [t('f32', 3, 2), t('i32', 1), t('f32', 1, 2)]);
    expect(() => getOp('scatter_add').ref([table, idx, nd([1, 1], [1, 2])], s, ctx)).toThrow(
      `scatter_add: index ${bad} is out of range for 3 rows`,
    );
  });
});

describe('cross_entropy', () => {
  it.each([
    [[t('i32', 2, 3), t('i32', 2)], 'cross_entropy (logits)'],
    [[t('f32'), t('i32')], 'cross_entropy (logits)'],
    [[t('f32', 2, 3), t('f32', 2)], 'cross_entropy targets must be i32 class ids, got f32'],
    [[t('f32', 2, 0), t('i32', 2)], 'cross_entropy needs at least one class; the logits have 0'],
    [[t('f32', 2, 3), t('i32', 3)], 'logits [2,3] need targets of shape [2], got [3]'],
    [[t('f32', 2, 3), t('i32', 2, 1)], 'logits [2,3] need targets of shape [2], got [2,1]'],
  ] as const)('refuses %j', (ins, message) => {
    expect(() => getOp('cross_entropy').infer([...ins], {})).toThrow(message);
  });

  it('costs 5 FLOPs per logit, and its gradient as much, reading and writing the logits', () => {
    const v = opValue('cross_entropy', [t('f32', 4, 10), t('i32', 4)]);
    expect(getOp('cross_entropy').cost(v)).toEqual({ flops: 200, bytes: 160 + 16 });
    const g = opValue('cross_entropy_grad', [t('f32', 4, 10), t('i32', 4), t('f32')]);
    expect(getOp('cross_entropy_grad').cost(g)).toEqual({ flops: 200, bytes: 320 });
  });

  it('a target out of range is named; the loss and gradient hold for logits of 1000', () => {
    const v = opValue('cross_entropy', [t('f32', 1, 3), t('i32', 1)]);
    for (const bad of [-1, 3])
      expect(() => getOp('cross_entropy').ref([nd([0, 0, 0], [1, 3]), nd([bad], [1], true)], v, ctx)).toThrow(
        `cross_entropy: target ${bad} is out of range for 3 classes`,
      );
    // softmax of [1000, 1001, 1002], in float64 by hand: the shift by the max keeps exp finite
    const logits = nd([1000, 1001, 1002, 1, 2, 3], [2, 3]);
    const targets = nd([0, 2], [2], true);
    const z = Math.exp(-2) + Math.exp(-1) + 1;
    const p = [Math.exp(-2) / z, Math.exp(-1) / z, 1 / z];
    const loss = getOp('cross_entropy').ref(
      [logits, targets],
      opValue('cross_entropy', [t('f32', 2, 3), t('i32', 2)]),
      ctx,
    );
    expect(loss.data[0]).toBeCloseTo((-Math.log(p[0]!) - Math.log(p[2]!)) / 2, 12);
    const g = getOp('cross_entropy_grad').ref(
      [logits, targets, nd([2], [])],
      opValue('cross_entropy_grad', [t('f32', 2, 3), t('i32', 2), t('f32')]),
      ctx,
    );
    // d/dlogits of dy · mean over 2 rows: (softmax − onehot) · dy / 2
    const want = [p[0]! - 1, p[1]!, p[2]!, p[0]!, p[1]!, p[2]! - 1];
    Array.from(g.data).forEach((x, i) => expect(x).toBeCloseTo(want[i]!, 12));
  });
});
