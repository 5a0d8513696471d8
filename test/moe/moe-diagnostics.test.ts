import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';

const dir = mkdtempSync(join(tmpdir(), 'flexc-moe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The diagnostics of a model body in a train plan (x: f32[8, 4], y: i32[8]). */
function diagnose(body: string): { code: string; message: string; line: number }[] {
  const file = join(dir, `m${Math.random().toString(36).slice(2)}.flex`);
  writeFileSync(
    file,
    `import { MoE } from "std/nn"
model M() {
  input x: f32[8, 4]
  input y: i32[8]
${body}
}
plan p { model: M  task: train { optimizer: sgd(lr: 0.1) } }
`,
  );
  return compile(file, 'p').diagnostics.map((d) => ({ code: d.code, message: d.message, line: d.span.line }));
}

describe('MoE: malformed uses get coded diagnostics at their line', () => {
  it('top-k of more experts than there are', () => {
    const [d] = diagnose('  let c = topk(x, 5)\n  output loss = cross_entropy(x, y)');
    expect(d).toMatchObject({ code: 'FLX3001', line: 5 });
    expect(d!.message).toMatch(/k must be a whole number from 1 to the row's 4 values, got 5/);
  });

  it('dispatch of tokens that are not rows [T, d]', () => {
    const [d] = diagnose(
      '  let c = topk(x, 1)\n  let r = moe_dispatch(reshape(x, [2, 4, 4]), c, experts: 4)\n' +
        '  output loss = cross_entropy(x, y)',
    );
    expect(d).toMatchObject({ code: 'FLX3050', line: 6 });
    expect(d!.message).toMatch(/moe_dispatch takes tokens as rows \[T, d\], got rank 3/);
  });

  it('an auxiliary loss that is not a scalar, and an output that takes aux_loss’s name', () => {
    const [d] = diagnose('  let a = aux_loss(x)\n  output loss = cross_entropy(x, y)');
    expect(d).toMatchObject({ code: 'FLX3050', line: 5 });
    expect(d!.message).toMatch(/aux_loss takes a float scalar, got f32\[8, 4\]/);
    const [e] = diagnose(
      '  let a = aux_loss(mean(x))\n  output loss = cross_entropy(x, y)\n  output aux_loss = mean(x)',
    );
    expect(e).toMatchObject({ code: 'FLX2011' });
    expect(e!.message).toMatch(/declares an output `aux_loss`, the name of the sum of its layers' `aux_loss` terms/);
  });

  it('a negative capacity factor or weight', () => {
    const [d] = diagnose(
      '  let h = MoE(x, experts: 4, k: 1, hidden: 8, capacity_factor: -1)\n  output loss = cross_entropy(h, y)',
    );
    expect(d?.code).toMatch(/^FLX/);
    expect(d!.message).toMatch(/capacity_factor/);
  });
});

describe('aux_loss', () => {
  it('is an output, and training minimises loss + aux_loss (one seed each)', () => {
    const file = join(dir, 'aux.flex');
    writeFileSync(
      file,
      `model M() {
  input x: f32[8, 4]
  input y: i32[8]
  param w: f32[4, 4] = normal(0.5)
  let h = x @ w
  let a = aux_loss(mean(h * h), weight: 0.5)
  output loss = cross_entropy(h, y)
}
plan p { model: M  task: train { optimizer: sgd(lr: 0.1) } }
plan serve { model: M  task: infer }
`,
    );
    const r = compile(file, 'p');
    expect(r.diagnostics).toEqual([]);
    expect(r.module!.outputs.map((o) => o.name)).toEqual(['loss', 'aux_loss', 'grad:w']);
    // an inference plan has no auxiliary loss
    expect(compile(file, 'serve').module!.outputs.map((o) => o.name)).toEqual(['loss']);
  });
});
