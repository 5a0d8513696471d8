import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { render } from '../../grammar/diagnostics.ts';
import { checkProgram } from '../../compiler/check-program.ts';

/**
 * Each file here is wrong in one way; its last line says the first diagnostic expected:
 * `// expect: CODE at LINE:COL: message`; `// expect-count: N` says how many diagnostics in all (one
 * mistake must not cascade).
 */
const files = readdirSync('test/malformed')
  .filter((f) => f.endsWith('.flex') && !f.startsWith('_'))
  .sort();

describe('malformed inputs', () => {
  it('there are at least 40 of them, across syntax, names, shapes, units and imports', () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
    for (const group of ['syntax-', 'name-', 'shape-', 'unit-', 'name-import', 'plan-', 'hw-', 'type-'])
      expect(
        files.some((f) => f.startsWith(group)),
        group,
      ).toBe(true);
  });
  for (const f of files) {
    it(f, () => {
      const path = `test/malformed/${f}`;
      const text = readFileSync(path, 'utf8');
      const m = /\/\/ expect: (FLX\d{4}) at (\d+):(\d+): (.*)$/m.exec(text);
      expect(m, 'the file states its expected diagnostic').not.toBeNull();
      const r = checkProgram(path, { budgets: true });
      expect(r.diagnostics.length).toBeGreaterThan(0);
      const d = r.diagnostics[0]!;
      expect(`${d.code} at ${d.span.line}:${d.span.column}: ${d.message}`).toBe(
        `${m![1]} at ${m![2]}:${m![3]}: ${m![4]}`,
      );
      const count = /\/\/ expect-count: (\d+)$/m.exec(text);
      if (count) expect(r.diagnostics.map((x) => `${x.code} ${x.message}`)).toHaveLength(Number(count[1]));
      const shown = render(d, () => text);
      expect(shown).toContain(`error[${d.code}]`);
      expect(shown).toContain(`--> ${d.span.file}:${d.span.line}:${d.span.column}`);
      expect(shown).toMatch(/\n\s*\| *\^+/);
    });
  }
});
