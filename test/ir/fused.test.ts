import { describe, expect, it } from 'vitest';
import { evalExpr, parseExpr, printExpr } from '../../compiler/ir/ops/fused.ts';
import { getOp } from '../../compiler/ir/ops/registry.ts';
import { ShapeError, type TensorType } from '../../compiler/ir/types.ts';
import { opValue, refContext } from '../helpers/op-value.ts';

/**
 * The fused op: its expression language (parsed, printed, evaluated), its shape rule and cost, and its CPU reference
 * against the unfused ops' own references composed by hand.
 */
const f32 = (...shape: number[]): TensorType => ({ dtype: 'f32', shape });
const ctx = refContext();

describe('fused expressions', () => {
  it('parse and print back to the same text, constants included', () => {
    for (const text of [
      'x0',
      'add(x0,x1)',
      'add(mul(x0,x1),x2)',
      'mul(relu(x0),c(0.5))',
      'add(x0,c(-inf))',
      'sub(x0,c(inf))',
      'add(x10,c(-2.5e-7))',
      'relu_grad(x0,x1)',
    ])
      expect(printExpr(parseExpr(text))).toBe(text);
    expect(parseExpr('add(x0,c(-inf))')).toEqual({
      kind: 'call',
      op: 'add',
      args: [
        { kind: 'operand', index: 0 },
        { kind: 'const', value: -Infinity },
      ],
    });
    expect(parseExpr('c(inf)')).toEqual({ kind: 'const', value: Infinity });
    expect(parseExpr('x12')).toEqual({ kind: 'operand', index: 12 });
  });

  it.each([
    ['', 0],
    ['add(x0,x1', 9],
    ['add(x0,x1)x', 10],
    ['add(x0;x1)', 6],
    ['matmul(x0,x1)', 7],
    ['add x0', 3],
    ['c(1', 4],
    ['xy', 2],
    ['x0a', 3],
    ['ADD(x0,x1)', 0],
    ['max(x0,x1)', 4],
  ])('refuses %j, saying where (at %i)', (text, at) => {
    expect(() => parseExpr(text)).toThrow(ShapeError);
    expect(() => parseExpr(text)).toThrow(`bad fused expression at ${at}: ${text}`);
  });

  it('evaluates with the unfused ops’ functions', () => {
    const e = parseExpr('add(mul(x0,x1),sub(x2,c(3)))');
    expect(evalExpr(e, [2, 5, 10])).toBe(2 * 5 + (10 - 3));
    expect(evalExpr(parseExpr('relu(x0)'), [-4])).toBe(0);
    expect(evalExpr(parseExpr('relu(x0)'), [4])).toBe(4);
    expect(evalExpr(parseExpr('c(-inf)'), [])).toBe(-Infinity);
    expect(evalExpr(parseExpr('x1'), [7, 8])).toBe(8);
    // a gradient op: relu's backward lets the gradient through where the input was positive
    expect(evalExpr(parseExpr('relu_grad(x0,x1)'), [3, 0.5])).toBe(0.5);
    expect(evalExpr(parseExpr('relu_grad(x0,x1)'), [-3, 0.5])).toBe(0);
  });
});

describe('the fused op', () => {
  it('broadcasts its operands as the ops it replaces, and costs one FLOP per call per element', () => {
    const v = opValue('fused', [f32(2, 3), f32(3), f32(2, 1)], { expr: 'add(mul(x0,x1),x2)' });
    expect(v.type).toEqual(f32(2, 3));
    expect(getOp('fused').cost(v)).toEqual({ flops: 2 * 6, bytes: 4 * (6 + 6 + 3 + 2) });
    const one = opValue('fused', [f32(4)], { expr: 'neg(x0)' });
    expect(getOp('fused').cost(one).flops).toBe(4);
    expect(getOp('fused').cost(opValue('fused', [f32(4)], { expr: 'x0' })).flops).toBe(0);
  });

  it('refuses operands its expression does not use, or uses but does not have', () => {
    const infer = (n: number, expr: string) => () =>
      getOp('fused').infer(
        Array.from({ length: n }, () => f32(2)),
        { expr },
      );
    expect(infer(3, 'add(x0,x1)')).toThrow('fused expression uses operands 0,1 but has 3');
    expect(infer(1, 'add(x0,x1)')).toThrow('fused expression uses operands 0,1 but has 1');
    expect(infer(2, 'add(x0,x2)')).toThrow('fused expression uses operands 0,2 but has 2');
    expect(infer(2, 'add(x1,x0)')()).toEqual(f32(2));
  });

  it('computes what the unfused ops compute, with broadcasting', () => {
    const a = { data: Float32Array.from([1, -2, 3, -4, 5, -6]), shape: [2, 3] };
    const b = { data: Float32Array.from([0.5, 2, -1]), shape: [3] };
    const c = { data: Float32Array.from([10, 20]), shape: [2, 1] };
    const fused = opValue('fused', [f32(2, 3), f32(3), f32(2, 1)], { expr: 'add(relu(mul(x0,x1)),x2)' });
    const got = getOp('fused').ref([a, b, c], fused, ctx);
    const mul = getOp('mul').ref([a, b], opValue('mul', [f32(2, 3), f32(3)], {}), ctx);
    const relu = getOp('relu').ref([mul], opValue('relu', [f32(2, 3)], {}), ctx);
    const add = getOp('add').ref([relu, c], opValue('add', [f32(2, 3), f32(2, 1)], {}), ctx);
    expect(got.shape).toEqual([2, 3]);
    expect(Array.from(got.data)).toEqual(Array.from(add.data));
    expect(Array.from(got.data)).toEqual([10.5, 10, 10, 20, 30, 26]);
  });
});
