import { describe, expect, it } from 'vitest';
import { parseModule } from '../../compiler/ir/parser.ts';
import { printModule } from '../../compiler/ir/printer.ts';
import { PIPELINE, runPipeline } from '../../compiler/passes/pipeline.ts';
import { planConfig, trainTask } from '../helpers/plan-config.ts';

/** The pipeline as a whole: the order it runs in, what it prints and times, and the verifier after each pass. */
const TEXT = `module @m {
  %0 = input "x" : f32[4,3]
  %1 = param "w" {init = "normal", mean = 0, std = 0.1} : f32[3,2]
  %2 = matmul %0, %1 : f32[4,2]
  %3 = mean %2 {axes = [0, 1], keepdims = false} : f32[]
  output "loss" = %3
}
`;
const config = planConfig({ task: trainTask('sgd') });

describe('the pass pipeline', () => {
  it('times every pass, in order, with a duration of at least 0', () => {
    const timings: { pass: string; ms: number }[] = [];
    runPipeline(parseModule(TEXT), { config }, { timings });
    expect(timings.map((t) => t.pass)).toEqual(PIPELINE.map((p) => p.name));
    for (const t of timings) expect(t.ms).toBeGreaterThanOrEqual(0);
    // each is a duration within the run, not a clock reading
    const t0 = performance.now();
    const again: { pass: string; ms: number }[] = [];
    runPipeline(parseModule(TEXT), { config }, { timings: again });
    const wall = performance.now() - t0;
    expect(again.reduce((a, t) => a + t.ms, 0)).toBeLessThanOrEqual(wall);
  });

  it('prints nowhere when asked to print without a printer', () => {
    expect(() => runPipeline(parseModule(TEXT), { config }, { printAfter: 'all' })).not.toThrow();
  });

  it('verifies each pass’s output: a pass that breaks the IR is named', () => {
    const pass = PIPELINE.find((p) => p.name === 'optimizer')!;
    const run = pass.run;
    try {
      pass.run = (m, cx) => {
        const out = run(m, cx);
        return { ...out, values: out.values.map((v) => (v.op === 'sgd' ? { ...v, inputs: v.inputs.slice(0, 1) } : v)) };
      };
      expect(() => runPipeline(parseModule(TEXT), { config })).toThrow(/IR is invalid after optimizer/);
    } finally {
      pass.run = run;
    }
  });

  it('prints the IR after one named pass, or after every pass with `all`, headed like LLVM', () => {
    const printed: [string, string][] = [];
    const out = runPipeline(
      parseModule(TEXT),
      { config },
      { printAfter: 'autodiff', onPrint: (h, ir) => void printed.push([h, ir]) },
    );
    expect(printed.map(([h]) => h)).toEqual(['// *** IR Dump After autodiff ***']);
    expect(printed[0]![1]).toContain('matmul');
    const all: string[] = [];
    const again = runPipeline(parseModule(TEXT), { config }, { printAfter: 'all', onPrint: (h) => void all.push(h) });
    expect(all).toEqual(PIPELINE.map((p) => `// *** IR Dump After ${p.name} ***`));
    expect(printModule(again)).toBe(printModule(out));
    const none: string[] = [];
    runPipeline(parseModule(TEXT), { config }, { onPrint: (h) => void none.push(h) });
    expect(none).toEqual([]);
  });

  it('verifies its input before the first pass: an invalid module is refused naming the lowering', () => {
    const m = parseModule(TEXT);
    m.values[2]!.inputs = [m.values[0]!];
    expect(() => runPipeline(m, { config })).toThrow(/after lowering/);
  });
});
