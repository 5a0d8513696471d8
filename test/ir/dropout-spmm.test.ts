import { describe, expect, it } from 'vitest';
import { dropoutUniform, fmix32 } from '../../compiler/ir/ops/dropout.ts';
import { getOp } from '../../compiler/ir/ops/registry.ts';
import { ShapeError, type TensorType } from '../../compiler/ir/types.ts';
import { opValue, refContext } from '../helpers/op-value.ts';

/**
 * Dropout's hash against murmur3's finaliser computed independently (Python's integers, values below), its mask's
 * statistics and its refusals; spmm's refusals and cost against the CSR sizes.
 */
const t = (dtype: 'f32' | 'i32', ...shape: number[]): TensorType => ({ dtype, shape });
const ctx = refContext();

describe('dropout', () => {
  it('fmix32 and the uniform draw match murmur3 computed elsewhere', () => {
    // python3: h ^= h>>16; h = h*0x85ebca6b & 0xffffffff; h ^= h>>13; h = h*0xc2b2ae35 & 0xffffffff; h ^= h>>16
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(1364076727);
    expect(fmix32(2)).toBe(821347078);
    expect(fmix32(0xdeadbeef)).toBe(233162409);
    expect(fmix32(0xffffffff)).toBe(2180083513);
    expect(fmix32(123456789)).toBe(3126909082);
    expect(dropoutUniform(0, 1, 0)).toBe(0.18724608421325684);
    expect(dropoutUniform(7, 3, 5)).toBe(0.7692518830299377);
    expect(dropoutUniform(42, 1, 1000)).toBe(0.31982433795928955);
  });

  it('drops a fraction p of 100,000 elements, scales the rest by 1/(1-p), keeps zeros zero', () => {
    const n = 100_000;
    const x = { data: new Float32Array(n).fill(2), shape: [n] };
    x.data[17] = 0;
    const step = { data: Int32Array.from([3]), shape: [] };
    for (const p of [0, 0.1, 0.5]) {
      const v = opValue('dropout', [t('f32', n), t('i32')], { p, seed: 7 });
      const out = getOp('dropout').ref([x, step], v, ctx).data;
      const dropped = out.filter((y) => y === 0).length - 1;
      expect(Math.abs(dropped / n - p), `p ${p}`).toBeLessThan(0.01);
      expect(out[17]).toBe(0);
      for (let i = 0; i < 1000; i++)
        if (i !== 17) expect(out[i]).toBe(dropoutUniform(7, 3, i) < p ? 0 : Math.fround(2 / (1 - p)));
    }
  });

  it.each([
    ['a step that is not an i32 scalar', [t('f32', 4), t('f32')], 0.1, 'dropout step must be an i32 scalar'],
    ['a step with a shape', [t('f32', 4), t('i32', 1)], 0.1, 'dropout step must be an i32 scalar'],
    ['p = 1', [t('f32', 4), t('i32')], 1, 'dropout probability must be in [0, 1), got 1'],
    ['p < 0', [t('f32', 4), t('i32')], -0.1, 'dropout probability must be in [0, 1), got -0.1'],
    ['p NaN', [t('f32', 4), t('i32')], Number.NaN, 'dropout probability must be in [0, 1), got NaN'],
    ['integer x', [t('i32', 4), t('i32')], 0.1, 'dropout'],
  ] as const)('refuses %s', (_, ins, p, message) => {
    expect(() => getOp('dropout').infer([...ins], { p, seed: 1 })).toThrow(ShapeError);
    expect(() => getOp('dropout').infer([...ins], { p, seed: 1 })).toThrow(message);
  });

  it('accepts p = 0 and keeps its operand’s type', () => {
    expect(getOp('dropout').infer([t('f32', 2, 3), t('i32')], { p: 0, seed: 1 })).toEqual(t('f32', 2, 3));
  });
});

describe('spmm', () => {
  // A: 3 × 2 with 4 entries; Aᵀ: 2 × 3
  const csr = (rows: number, cols: number, nnz: number, nnzT = nnz) => [
    t('i32', rows + 1),
    t('i32', nnz),
    t('f32', nnz),
    t('i32', cols + 1),
    t('i32', nnzT),
    t('f32', nnzT),
  ];
  const infer = (ins: TensorType[], attrs: Record<string, number | boolean>) => () => getOp('spmm').infer(ins, attrs);

  it('A @ x is rows × f; Aᵀ @ x is cols × f', () => {
    expect(infer([...csr(3, 2, 4), t('f32', 2, 5)], { rows: 3, cols: 2 })()).toEqual(t('f32', 3, 5));
    expect(infer([...csr(3, 2, 4), t('f32', 3, 5)], { rows: 3, cols: 2, transpose: true })()).toEqual(t('f32', 2, 5));
  });

  it.each([
    ['float row pointers', 0, t('f32', 4), 'the CSR row pointers and column ids of A must be i32'],
    ['float column ids of Aᵀ', 4, t('f32', 4), 'the CSR row pointers and column ids of Aᵀ must be i32'],
    ['too few row pointers', 0, t('i32', 3), 'spmm: A needs 4 row pointers, got [3]'],
    ['a matrix of row pointers', 3, t('i32', 3, 1), 'spmm: Aᵀ needs 3 row pointers, got [3,1]'],
    ['values that do not match the ids', 2, t('f32', 5), 'spmm: A has 4 column ids but 5 values'],
    ['a vector operand', 6, t('f32', 2), 'spmm needs a matrix operand, got rank 1'],
    ['an operand of the wrong height', 6, t('f32', 3, 5), 'spmm operand has 3 rows, the graph matrix needs 2'],
  ] as const)('refuses %s', (_, k, replaced, message) => {
    const ins = [...csr(3, 2, 4), t('f32', 2, 5)];
    ins[k] = replaced;
    expect(infer(ins, { rows: 3, cols: 2 })).toThrow(message);
  });

  it('refuses A and Aᵀ with different numbers of entries', () => {
    expect(infer([...csr(3, 2, 4, 5), t('f32', 2, 5)], { rows: 3, cols: 2 })).toThrow(
      'spmm: A and Aᵀ differ in their number of entries',
    );
  });

  it('costs 2·nnz·f FLOPs and reads the CSR arrays of the side it uses', () => {
    const ins = [t('i32', 4), t('i32', 4), t('f32', 4), t('i32', 3), t('i32', 4), t('f32', 4), t('f32', 2, 5)];
    const v = opValue('spmm', ins, { rows: 3, cols: 2 });
    // out 3×5, x 2×5, A's row pointers (4), ids (4) and values (4), four bytes each; x's rows are read by index
    expect(getOp('spmm').cost(v)).toEqual({ flops: 2 * 4 * 5, bytes: 4 * (15 + 10 + 4 + 4 + 4), gathered: 4 * 10 });
    const vt = opValue('spmm', [...ins.slice(0, 6), t('f32', 3, 5)], { rows: 3, cols: 2, transpose: true });
    expect(getOp('spmm').cost(vt)).toEqual({ flops: 2 * 4 * 5, bytes: 4 * (10 + 15 + 3 + 4 + 4), gathered: 4 * 15 });
  });

  it('computes A @ x and Aᵀ @ x from the CSR arrays', () => {
    // A = [[1, 0], [2, 3], [0, 4]]
    const A = [Int32Array.from([0, 1, 3, 4]), Int32Array.from([0, 0, 1, 1]), Float32Array.from([1, 2, 3, 4])];
    const AT = [Int32Array.from([0, 2, 4]), Int32Array.from([0, 1, 1, 2]), Float32Array.from([1, 2, 3, 4])];
    const arrays = [...A, ...AT].map((data) => ({ data, shape: [data.length] }));
    const ins = [t('i32', 4), t('i32', 4), t('f32', 4), t('i32', 3), t('i32', 4), t('f32', 4)];
    const x = { data: Float32Array.from([1, 10, 100, 1000]), shape: [2, 2] };
    const ax = getOp('spmm').ref([...arrays, x], opValue('spmm', [...ins, t('f32', 2, 2)], { rows: 3, cols: 2 }), ctx);
    expect(Array.from(ax.data)).toEqual([1, 10, 302, 3020, 400, 4000]);
    const y = { data: Float32Array.from([1, 2, 3]), shape: [3, 1] };
    const aty = getOp('spmm').ref(
      [...arrays, y],
      opValue('spmm', [...ins, t('f32', 3, 1)], { rows: 3, cols: 2, transpose: true }),
      ctx,
    );
    expect(Array.from(aty.data)).toEqual([1 + 4, 6 + 12]);
  });
});
