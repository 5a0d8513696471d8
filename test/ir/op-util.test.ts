import { describe, expect, it } from 'vitest';
import { getOp } from '../../compiler/ir/ops/registry.ts';
import {
  around,
  broadcastIndex,
  ints,
  like,
  num,
  requireFloat,
  requireRank,
  sameShapes,
  strides,
} from '../../compiler/ir/ops/util.ts';
import { ShapeError } from '../../compiler/ir/types.ts';
import { opValue, refContext } from '../helpers/op-value.ts';

/** The helpers every op's shape rule and reference share, and the broadcast and constant ops built on them. */
const t = (dtype: string, ...shape: number[]) => ({ dtype, shape }) as never;

describe('shape helpers', () => {
  it('strides: row-major; around: (outer, n, inner) about an axis', () => {
    expect(strides([2, 3, 4])).toEqual([12, 4, 1]);
    expect(strides([])).toEqual([]);
    expect(around([2, 3, 4], 1)).toEqual([2, 3, 4]);
    expect(around([2, 3, 4], 0)).toEqual([1, 2, 12]);
    expect(around([2, 3, 4], 2)).toEqual([6, 4, 1]);
  });

  it('broadcastIndex: none for the same shape; size-1 and missing leading dims repeat', () => {
    expect(broadcastIndex([2, 3], [2, 3])).toBeNull();
    expect([...broadcastIndex([2, 3], [3])!]).toEqual([0, 1, 2, 0, 1, 2]);
    expect([...broadcastIndex([2, 3], [2, 1])!]).toEqual([0, 0, 0, 1, 1, 1]);
    expect([...broadcastIndex([2, 3], [])!]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...broadcastIndex([2, 2, 2], [2, 1, 2])!]).toEqual([0, 1, 0, 1, 2, 3, 2, 3]);
    expect([...broadcastIndex([3], [1])!]).toEqual([0, 0, 0]);
  });

  it('attributes: a number, its default, or an error naming it', () => {
    expect(num({ lr: 0.5 }, 'lr')).toBe(0.5);
    expect(num({}, 'lr', 2)).toBe(2);
    expect(num({ lr: 0 }, 'lr', 2)).toBe(0);
    expect(() => num({}, 'lr')).toThrow(new ShapeError('missing attribute lr'));
    expect(() => num({ lr: 'x' }, 'lr')).toThrow('missing attribute lr');
    expect(ints({ axes: [1, 2] }, 'axes')).toEqual([1, 2]);
    expect(() => ints({ axes: 1 }, 'axes')).toThrow(new ShapeError('missing attribute axes'));
  });

  it('float and rank requirements name the op and what it got', () => {
    for (const d of ['f32', 'f16', 'bf16', 'f64']) expect(() => requireFloat(t(d, 2), 'relu')).not.toThrow();
    expect(() => requireFloat(t('i32', 2), 'relu')).toThrow(new ShapeError('relu needs a float tensor, got i32'));
    expect(() => requireRank(t('f32', 2, 2), 2, 'softmax')).not.toThrow();
    expect(() => requireRank(t('f32', 2), 3, 'softmax')).toThrow(new ShapeError('softmax needs rank ≥ 3, got rank 1'));
  });

  it('sameShapes: the second operand’s type when both shapes agree', () => {
    expect(sameShapes('relu_grad')([t('f32', 2, 3), t('f16', 2, 3)])).toEqual(t('f16', 2, 3));
    expect(() => sameShapes('relu_grad')([t('f32', 2, 3), t('f32', 3, 2)])).toThrow(
      new ShapeError('relu_grad: operand shapes differ'),
    );
    expect(() => sameShapes('relu_grad')([t('f32', 2, 3), t('f32', 2, 3, 1)])).toThrow('operand shapes differ');
  });

  it('like: integers for an integer type, the context’s floats otherwise', () => {
    expect(like(refContext(), t('i32', 2, 2))).toEqual(new Int32Array(4));
    expect(like(refContext(), t('f32', 3))).toEqual(new Float32Array(3));
    expect(like(refContext(true), t('f32', 3))).toEqual(new Float64Array(3));
  });
});

describe('broadcast_to and sum_to', () => {
  const infer = (op: string, x: number[], shape: number[]) => getOp(op).infer([t('f32', ...x)], { shape });

  it('broadcast_to expands size-1 and missing leading dims, and nothing else', () => {
    expect(infer('broadcast_to', [3], [2, 3])).toEqual(t('f32', 2, 3));
    expect(infer('broadcast_to', [2, 1], [2, 3])).toEqual(t('f32', 2, 3));
    expect(() => infer('broadcast_to', [2, 3], [3])).toThrow(new ShapeError('cannot broadcast [2,3] to [3]'));
    expect(() => infer('broadcast_to', [2, 3], [2, 4])).toThrow('dimension -1 differs: 3 vs 4');
    expect(() => infer('broadcast_to', [2, 3], [1, 3])).toThrow('cannot broadcast [2,3] to [1,3]');
  });

  it('sum_to reduces to a shape that broadcasts back, and nothing else', () => {
    expect(infer('sum_to', [2, 3], [3])).toEqual(t('f32', 3));
    expect(infer('sum_to', [2, 3], [2, 1])).toEqual(t('f32', 2, 1));
    expect(() => infer('sum_to', [3], [2, 3])).toThrow(new ShapeError('cannot sum [3] down to [2,3]'));
    expect(() => infer('sum_to', [2, 1], [2, 3])).toThrow('cannot sum [2,1] down to [2,3]');
  });

  it('their references: repeat, and add up what was repeated', () => {
    const x = { data: Float64Array.of(1, 2, 3, 4, 5, 6), shape: [2, 3] };
    const run = (op: string, shape: number[], input: typeof x) =>
      getOp(op).ref([input], opValue(op, [t('f32', ...input.shape)], { shape } as never), refContext(true));
    expect([...run('sum_to', [3], x).data]).toEqual([5, 7, 9]);
    expect([...run('sum_to', [2, 1], x).data]).toEqual([6, 15]);
    expect([...run('sum_to', [2, 3], x).data]).toEqual([1, 2, 3, 4, 5, 6]);
    const row = { data: Float64Array.of(1, 2, 3), shape: [3] };
    expect([...run('broadcast_to', [2, 3], row).data]).toEqual([1, 2, 3, 1, 2, 3]);
    expect([...run('broadcast_to', [3], row).data]).toEqual([1, 2, 3]);
  });
});

describe('relu at zero', () => {
  it('relu(0) = 0 and its gradient there is 0 (the subgradient PyTorch and JAX take)', () => {
    const x = { data: Float64Array.of(-1, 0, 2), shape: [3] };
    const dy = { data: Float64Array.of(5, 5, 5), shape: [3] };
    const grad = getOp('relu_grad').ref([x, dy], opValue('relu_grad', [t('f32', 3), t('f32', 3)]), refContext(true));
    expect([...grad.data]).toEqual([0, 0, 5]);
    const y = getOp('relu').ref([x], opValue('relu', [t('f32', 3)]), refContext(true));
    expect([...y.data]).toEqual([0, 0, 2]);
  });
});

describe('const and full', () => {
  it('float32 unless a dtype is given; full fills its shape', () => {
    expect(getOp('const').infer([], { value: 1 })).toEqual(t('f32'));
    expect(getOp('const').infer([], { value: 1, dtype: 'i32' })).toEqual(t('i32'));
    expect(getOp('full').infer([], { value: 1, shape: [2] })).toEqual(t('f32', 2));
    expect(getOp('full').infer([], { value: 1, shape: [2], dtype: 'f16' })).toEqual(t('f16', 2));
    const full = getOp('full').ref([], opValue('full', [], { value: 3, shape: [2, 2] } as never), refContext());
    expect(full).toEqual({ data: Float32Array.of(3, 3, 3, 3), shape: [2, 2] });
    const c = getOp('const').ref([], opValue('const', [], { value: 7, dtype: 'i32' }), refContext());
    expect(c).toEqual({ data: Int32Array.of(7), shape: [] });
  });
});
