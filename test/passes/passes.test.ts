import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseModule } from '../../compiler/ir/parser.ts';
import { printModule } from '../../compiler/ir/printer.ts';
import { verify } from '../../compiler/ir/verifier.ts';
import { PIPELINE } from '../../compiler/passes/pipeline.ts';
import { planConfig } from '../helpers/plan-config.ts';
import { expectGolden } from '../helpers/golden.ts';
import { checkFile } from '../../compiler/sema/check.ts';
import { graphResolver } from '../../compiler/sema/graph-decl.ts';

/**
 * Golden tests: each `<pass>/<case>.in.ir` (first line: `// plan: {…}`, with `graphsFrom`: the .flex file of the
 * graphs its feeds name) is run through the pass and compared with `<case>.out.ir`.
 */
describe.each(PIPELINE.map((p) => [p.name, p] as const))('pass %s', (name, pass) => {
  const dir = `test/passes/${name}`;
  const cases = readdirSync(dir).filter((f) => f.endsWith('.in.ir'));
  it('has golden cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(c, () => {
      const text = readFileSync(`${dir}/${c}`, 'utf8');
      const header = /^\/\/ plan: (.*)$/m.exec(text);
      const settings = JSON.parse(header?.[1] ?? '{}') as Record<string, unknown>;
      const config = planConfig(settings);
      // `graphsFrom`: a .flex file whose graphs the IR's feeds name (block-nodes reads their blocks)
      const from = settings['graphsFrom'];
      const graphs = typeof from === 'string' ? graphResolver(checkFile(from).program) : undefined;
      const input = parseModule(text);
      expect(verify(input), 'input verifies').toEqual([]);
      const out = pass.run(input, { config, ...(graphs ? { graphs } : {}) });
      expect(verify(out), 'output verifies').toEqual([]);
      expectGolden(`${dir}/${c.replace('.in.ir', '.out.ir')}`, printModule(out));
    });
  }
});
