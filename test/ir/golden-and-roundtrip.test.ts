import { describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { parseModule } from '../../compiler/ir/parser.ts';
import { printModule } from '../../compiler/ir/printer.ts';
import { verify } from '../../compiler/ir/verifier.ts';
import { expectGolden } from '../helpers/golden.ts';

const PLANS: [string, string, boolean][] = [
  ['examples/mlp.flex', 'train', true],
  ['examples/mlp.flex', 'small', true],
  ['examples/gpt.flex', 'tiny', true],
  ['examples/gpt.flex', 'gpt2_small', false],
  ['examples/gpt.flex', 'shakespeare', false],
  ['examples/gcn-cora.flex', 'train', true],
];

describe.each(PLANS)('%s --plan %s', (file, plan, golden) => {
  const r = compile(file, plan);
  it('compiles without diagnostics to a verified module', () => {
    expect(r.diagnostics).toEqual([]);
    expect(verify(r.module!)).toEqual([]);
  });
  if (golden)
    it('prints the golden IR', () => {
      const name = file.replace(/^examples\/|\.flex$/g, '');
      expectGolden(`test/golden/${name}.${plan}.ir`, printModule(r.module!));
    });
  it('round-trips: print → parse → print is identical, and the parsed module verifies', () => {
    for (const m of [r.lowered!.forward, r.module!]) {
      const text = printModule(m);
      const back = parseModule(text);
      expect(verify(back)).toEqual([]);
      expect(printModule(back)).toBe(text);
    }
  });
  it('is deterministic: two compilations print byte-identical IR', () => {
    expect(printModule(compile(file, plan).module!)).toBe(printModule(r.module!));
  });
});

describe('the IR parser', () => {
  it('rejects malformed text with a line and column', () => {
    expect(() => parseModule('module @m {\n  %0 = relu %1 : f32[2]\n}\n')).toThrow(
      /2:\d+: %1 is used before it is defined/,
    );
    expect(() => parseModule('module @m {\n  %0 = input "x" : f32[2]\n')).toThrow(/missing `}`/);
    expect(() => parseModule('module @m {\n  %0 = input "x" : f32[2] junk\n}\n')).toThrow(/unexpected `junk`/);
  });
  it('the verifier catches a wrong result type; the parser, an unknown op', () => {
    const m = parseModule('module @m {\n  %0 = input "x" : f32[2,3]\n  %1 = relu %0 : f32[3,2]\n}\n');
    expect(verify(m).join('\n')).toMatch(/disagrees with the shape rule/);
    expect(() => parseModule('module @m {\n  %0 = input "x" : f32[2,3]\n  %1 = frobnicate %0 : f32[3,2]\n}\n')).toThrow(
      /3:\d+: unknown op `frobnicate`/,
    );
  });
});
