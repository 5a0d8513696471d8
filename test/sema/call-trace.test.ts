import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diagnose } from '../../compiler/lsp/diagnostics.ts';
import { Workspace } from '../../compiler/lsp/workspace.ts';
import { checkProgram } from '../../compiler/check-program.ts';
import { render } from '../../grammar/diagnostics.ts';

// gpt.flex with d 48 and 5 heads, and a layer of the user's own around the standard library's attention
const gpt = readFileSync('examples/gpt.flex', 'utf8')
  .replace(
    'model: Gpt(vocab: 11, ctx: 8, d: 16, heads: 2, depth: 2)',
    'model: Gpt(vocab: 11, ctx: 8, d: 48, heads: 5, depth: 2)',
  )
  .replace('x = x + CausalSelfAttention(LayerNorm(x), heads: heads)', 'x = x + Block(x, heads: heads)')
  .replace(
    'model Gpt',
    'layer Block(x: f32[B, T, d], heads: int) -> f32[B, T, d] {\n  return ' +
      'CausalSelfAttention(LayerNorm(x), heads: heads)\n}\n\nmodel Gpt',
  );
const path = resolve('examples/_trace_test.flex');

describe('diagnostics raised inside a layer', () => {
  const ws = new Workspace();
  ws.set(path, gpt);
  const r = checkProgram(path, { read: ws.read });
  const d = r.diagnostics.find((x) => x.code === 'FLX3014')!;

  it('a size with a remainder is FLX3014 at the division, naming both sizes', () => {
    expect(d.message).toBe('a size must be a whole number: d = 48 is not divisible by heads = 5');
    expect(d.span.file).toBe('std/nn.flex');
    expect(r.diagnostics.filter((x) => x.severity === 'error')).toHaveLength(1);
  });

  it("carry the chain of call sites back to the user's file and the plan, innermost first", () => {
    const line = (needle: string) => gpt.split('\n').findIndex((l) => l.includes(needle)) + 1;
    expect(d.trace!.map((t) => [t.note, t.span.file, t.span.line])).toEqual([
      ['in `CausalSelfAttention`, called from here', 'examples/_trace_test.flex', line('return CausalSelfAttention')],
      ['in `Block`, called from here', 'examples/_trace_test.flex', line('x = x + Block(x')],
      ['while lowering plan `tiny` with B = 2, T = 8', 'examples/_trace_test.flex', line('heads: 5, depth: 2)')],
    ]);
    const shown = render(d, (f) => (f === 'std/nn.flex' ? readFileSync('stdlib/nn.flex', 'utf8') : gpt));
    expect(shown).toContain('note: in `Block`, called from here\n  --> examples/_trace_test.flex:');
    expect(shown).toMatch(/\| +x = x \+ Block\(x, heads: heads\)\n +\| +\^+/);
  });

  it("the language server shows it at the user's call too, the chain as related information", () => {
    const here = diagnose(ws, path).get(path)!;
    const shown = here.find((x) => x.code === 'FLX3014')!;
    expect(shown.range.start.line + 1).toBe(d.trace![0]!.span.line);
    expect(shown.relatedInformation!.map((i) => i.message)).toEqual(['raised here', ...d.trace!.map((t) => t.note)]);
  });
});
