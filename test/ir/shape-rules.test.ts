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
];

describe('shape rules of the data-movement ops', () => {
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
