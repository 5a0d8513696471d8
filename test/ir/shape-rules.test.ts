import { describe, expect, it } from 'vitest';
import type { Attrs } from '../../compiler/ir/graph.ts';
import { getOp } from '../../compiler/ir/ops/registry.ts';
import { ShapeError, type TensorType } from '../../compiler/ir/types.ts';

/**
 * The shape rules of the data-movement ops, on the types they must refuse and on the edge cases they
 * must accept: each refusal is a ShapeError whose message says what is wrong (a user reads it as
 * FLX3001), each acceptance the type the op gives.
 */
const f = (...shape: (number | string)[]): TensorType => ({ dtype: 'f32', shape });
const i32 = (...shape: number[]): TensorType => ({ dtype: 'i32', shape });
const adamAttrs = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: 0 };
const infer = (op: string, inputs: TensorType[], attrs: Attrs = {}) => getOp(op).infer(inputs, attrs);

const REFUSED: [string, TensorType[], Attrs, RegExp][] = [
  ['transpose', [f(2, 3)], { perm: [0, 0] }, /^perm \[0,0\] is not a permutation of rank 2$/],
  ['transpose', [f(2, 3)], { perm: [1, 2] }, /^perm \[1,2\] is not a permutation of rank 2$/],
  ['transpose', [f(2, 3)], { perm: [0] }, /^perm \[0\] is not a permutation of rank 2$/],
  ['transpose', [f(2, 3, 4)], { perm: [2, 1, 1] }, /^perm \[2,1,1\] is not a permutation of rank 3$/],
  ['reshape', [f(2, 3)], { shape: [-1, -1] }, /^reshape allows at most one -1$/],
  ['reshape', [f(2, 3)], { shape: [4, 2] }, /^cannot reshape \[2,3\] \(6 elements\) to \[4,2\]$/],
  ['reshape', [f(2, 3)], { shape: [-1, 4] }, /^cannot reshape \[2,3\] \(6 elements\) to \[-1,4\]$/],
  ['reshape', [f(2, 3)], { shape: [6, 0] }, /^cannot reshape \[2,3\] \(6 elements\) to \[6,0\]$/],
  ['slice', [f(4, 3)], { starts: [0], ends: [2] }, /^slice needs one range per dimension of \[4,3\]$/],
  ['slice', [f(4, 3)], { starts: [0, 0], ends: [2] }, /^slice needs one range per dimension of \[4,3\]$/],
  ['slice', [f(4, 3)], { starts: [2, 0], ends: [1, 3] }, /^slice 2:1 ends before it starts$/],
  ['slice', [f(4, 3)], { starts: [-1, 0], ends: [2, 3] }, /^slice start -1 is before 0$/],
  ['slice', [f(4, 3)], { starts: [0, 0], ends: [5, 3] }, /^slice end 5 is past dimension 0 of size 4$/],
  ['pad', [f(4, 3)], { before: [1], after: [1, 1] }, /^pad needs one amount per dimension$/],
  ['pad', [f(4, 3)], { before: [1, 1], after: [1] }, /^pad needs one amount per dimension$/],
  ['concat', [], { axis: 0 }, /^concat needs at least one operand$/],
  ['concat', [f(2, 3), f(2)], { axis: 0 }, /^concat operand 1 is f32\[2\], the first is f32\[2,3\]$/],
  ['concat', [f(2, 3), i32(2, 3)], { axis: 0 }, /^concat operand 1 is i32\[2,3\], the first is f32\[2,3\]$/],
  ['concat', [f(2, 3), f(2, 4)], { axis: 0 }, /^concat operand 1 differs in dimension 1: 4 vs 3$/],
  ['cache_write', [f(2, 8, 4), f(2, 4)], { axis: 1, at: 0 }, /^cache_write: f32\[2,4\] into a cache of f32\[2,8,4\]$/],
  [
    'cache_write',
    [f(2, 8, 4), i32(2, 1, 4)],
    { axis: 1, at: 0 },
    /^cache_write: i32\[2,1,4\] into a cache of f32\[2,8,4\]$/,
  ],
  ['cache_write', [f(2, 8, 4), f(2, 1, 3)], { axis: 1, at: 0 }, /^cache_write: dimension 2 differs: 3 vs 4$/],
  ['cache_write', [f(2, 8, 4), f(2, 3, 4)], { axis: 1, at: 6 }, /^cache_write: positions up to 9 in a cache of 8$/],
  ['cache_view', [f(2, 8, 4)], { axis: 1, length: 9 }, /^cache_view: 9 positions of a cache of 8$/],
  ['positions', [f()], { offset: 0 }, /^positions: needs a tensor with a sequence axis last$/],
  ['sgd', [f(3, 2), f(2, 3)], { lr: 0.1 }, /^sgd: operand shapes differ$/],
  ['adam_m', [f(3, 2), f(3)], { beta: 0.9 }, /^adam_m: operand shapes differ$/],
  ['adam_step', [f(3, 2), f(3, 2), f(2, 3), i32()], adamAttrs, /^adam_step: operand shapes differ$/],
  ['layernorm_rstd', [i32(2, 4)], { eps: 1e-5 }, /^layernorm needs a float tensor, got i32$/],
  ['layernorm_rstd', [f()], { eps: 1e-5 }, /^layernorm needs rank ≥ 1, got rank 0$/],
  ['layernorm', [i32(2, 4), f(2, 1)], { eps: 1e-5 }, /^layernorm needs a float tensor, got i32$/],
  [
    'layernorm',
    [f(2, 4), f(2, 2)],
    { eps: 1e-5 },
    /^layernorm: rstd must be \[\.\.\., 1\] beside x, got \[2,2\] for \[2,4\]$/,
  ],
  [
    'layernorm',
    [f(2, 4), f(1)],
    { eps: 1e-5 },
    /^layernorm: rstd must be \[\.\.\., 1\] beside x, got \[1\] for \[2,4\]$/,
  ],
  ['layernorm_grad', [f(2, 4), f(2, 1), f(4, 2)], {}, /^layernorm_grad: y \[2,4\] and dy \[4,2\] differ$/],
  ['cross_entropy', [f(2, 0), i32(2)], {}, /^cross_entropy needs at least one class; the logits have 0$/],
  ['cross_entropy', [f(2, 3), i32(3)], {}, /^logits \[2,3\] need targets of shape \[2\], got \[3\]$/],
  ['cross_entropy', [f(2, 3), i32(2, 1)], {}, /^logits \[2,3\] need targets of shape \[2\], got \[2,1\]$/],
  ['cross_entropy', [f(2, 3), f(2)], {}, /^cross_entropy targets must be i32 class ids, got f32$/],
  ['cross_entropy', [f(2, 3, 5), i32(2, 4)], {}, /^logits \[2,3,5\] need targets of shape \[2,3\], got \[2,4\]$/],
  ['sum', [f(2, 3)], { axes: [0, -2], keepdims: false }, /^axis -2 is listed twice$/],
  ['rope', [f(2, 3)], { base: 1e4, sign: 1 }, /^rope rotates pairs: the last axis must be even, got 3$/],
  ['rope', [i32(2, 4)], { base: 1e4, sign: 1 }, /^rope needs a float tensor, got i32$/],
  ['rope', [f(4)], { base: 1e4, sign: 1 }, /^rope needs rank ≥ 2, got rank 1$/],
  ['causal_mask', [f(4)], { fill: 0 }, /^causal_mask needs rank ≥ 2, got rank 1$/],
  ['matmul', [f(4), f(4, 2)], {}, /^matmul \(left operand\) needs rank ≥ 2, got rank 1$/],
  ['matmul', [f(2, 4), f(4)], {}, /^matmul \(right operand\) needs rank ≥ 2, got rank 1$/],
  ['matmul', [f(2, 3), { dtype: 'f16', shape: [3, 2] }], {}, /^matmul dtypes differ: f32 vs f16$/],
  ['matmul', [f(2, 3), f(4, 2)], {}, /^inner dimensions differ: 3 vs 4$/],
  ['add', [f(2), { dtype: 'f16', shape: [2] }], {}, /^add: dtypes differ: f32 vs f16$/],
];

const ACCEPTED: [string, TensorType[], Attrs, (number | string)[]][] = [
  ['transpose', [f(2, 3, 4)], { perm: [2, 0, 1] }, [4, 2, 3]],
  ['reshape', [f(2, 3)], { shape: [-1] }, [6]],
  ['reshape', [f(2, 3)], { shape: [3, -1] }, [3, 2]],
  ['reshape', [f(0, 3)], { shape: [0, 5] }, [0, 5]],
  ['slice', [f(4, 3)], { starts: [1, 0], ends: [4, 3] }, [3, 3]],
  ['slice', [f(4, 3)], { starts: [3, 2], ends: [4, 3] }, [1, 1]],
  ['slice', [f(4, 3)], { starts: [0, 3], ends: [4, 3] }, [4, 0]],
  ['pad', [f(4, 3)], { before: [1, 0], after: [2, 3] }, [7, 6]],
  ['concat', [f(2, 3), f(2, 4)], { axis: 1 }, [2, 7]],
  ['concat', [f(2, 3), f(5, 3)], { axis: -2 }, [7, 3]],
  ['concat', [f(2, 3)], { axis: 0 }, [2, 3]],
  ['cache_write', [f(2, 8, 4), f(2, 3, 4)], { axis: 1, at: 5 }, [2, 8, 4]],
  ['cache_write', [f(2, 8, 4), f(2, 3, 4)], { axis: -2, at: 5 }, [2, 8, 4]],
  ['cache_view', [f(2, 8, 4)], { axis: 1, length: 8 }, [2, 8, 4]],
  ['cache_view', [f(2, 8, 4)], { axis: -2, length: 3 }, [2, 3, 4]],
  ['positions', [f(2, 5)], { offset: 3 }, [5]],
  ['positions', [f(5)], { offset: 0 }, [5]],
  ['rope', [f(2, 'H')], { base: 1e4, sign: 1 }, [2, 'H']],
  ['layernorm_rstd', [f(2, 3, 4)], { eps: 1e-5 }, [2, 3, 1]],
  ['sum', [f(2, 3)], { axes: [0, -1], keepdims: true }, [1, 1]],
  // the step counter is a scalar beside the tensors
  ['adam_step', [f(3, 2), f(3, 2), f(3, 2), i32()], adamAttrs, [3, 2]],
];

describe('shape rules of the ops', () => {
  it.each(REFUSED)('%s refuses %j %j', (op, inputs, attrs, message) => {
    let e: unknown;
    try {
      infer(op, inputs, attrs);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ShapeError);
    expect((e as Error).message).toMatch(message);
  });
  it.each(ACCEPTED)('%s accepts %j %j', (op, inputs, attrs, shape) => {
    expect(infer(op, inputs, attrs).shape).toEqual(shape);
  });
});

describe('the KV-cache ops compute what they say', () => {
  const value = (op: string, inputs: TensorType[], attrs: Attrs) =>
    ({ op, inputs: inputs.map((type) => ({ type })), attrs, type: infer(op, inputs, attrs) }) as never;
  const ctx = { floats: (n: number) => new Float32Array(n), step: 1 };
  const arange = (n: number, from = 0) => Float32Array.from({ length: n }, (_, i) => from + i);

  it('cache_write writes x at positions at…at+n of every row and leaves the rest; it moves 2 × |x| bytes', () => {
    const c = { data: arange(2 * 5 * 2), shape: [2, 5, 2] };
    const x = { data: arange(2 * 2 * 2, 100), shape: [2, 2, 2] };
    const v = value('cache_write', [f(2, 5, 2), f(2, 2, 2)], { axis: 1, at: 3 });
    const out = Array.from(getOp('cache_write').ref([c, x], v, ctx).data);
    const want = Array.from(c.data);
    for (let o = 0; o < 2; o++)
      for (let p = 0; p < 2; p++) for (let r = 0; r < 2; r++) want[(o * 5 + 3 + p) * 2 + r] = 100 + (o * 2 + p) * 2 + r;
    expect(out).toEqual(want);
    expect(getOp('cache_write').cost(v)).toEqual({ flops: 0, bytes: 2 * 2 * 2 * 2 * 4 });
  });

  it('cache_view is the first `length` positions of every row, and costs nothing on a device', () => {
    const c = { data: arange(2 * 5 * 2), shape: [2, 5, 2] };
    const v = value('cache_view', [f(2, 5, 2)], { axis: 1, length: 3 });
    expect(Array.from(getOp('cache_view').ref([c], v, ctx).data)).toEqual([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]);
    expect(getOp('cache_view').cost(v)).toEqual({ flops: 0, bytes: 0 });
  });

  it('positions counts from the offset along the last axis', () => {
    const v = value('positions', [f(2, 4)], { offset: 6 });
    const ints = { floats: (n: number) => new Float32Array(n), step: 1 };
    expect(Array.from(getOp('positions').ref([{ data: arange(8), shape: [2, 4] }], v, ints).data)).toEqual([
      6, 7, 8, 9,
    ]);
  });
});
