import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { render } from '../../grammar/diagnostics.ts';
import { compile } from '../../compiler/compile.ts';
import { checkProgram } from '../../compiler/check-program.ts';
import { STDLIB_DIR } from '../../compiler/sema/program.ts';
import { mutate } from './mutate.ts';

const TOTAL = Number(process.env['FUZZ_MUTATIONS'] ?? 2000);

/** (entry file, file to mutate, plan to compile when the mutant is clean) */
const TARGETS: [string, string, string | undefined][] = [
  ['examples/mlp.flex', 'examples/mlp.flex', 'small'],
  ['examples/gpt.flex', 'examples/gpt.flex', 'tiny'],
  ['examples/gcn-cora.flex', 'examples/gcn-cora.flex', 'train'],
  ['examples/gpt.flex', join(STDLIB_DIR, 'nn.flex'), 'tiny'],
  ['examples/gpt.flex', join(STDLIB_DIR, 'hardware.flex'), undefined],
];

describe('fuzzing the front end with mutated examples', () => {
  it(`${TOTAL} mutations: only diagnostics, never a crash`, () => {
    let clean = 0;
    let withErrors = 0;
    for (let k = 0; k < TOTAL; k++) {
      const [entry, target, plan] = TARGETS[k % TARGETS.length]!;
      const abs = resolve(target);
      const text = mutate(readFileSync(abs, 'utf8'), 1000 + k);
      const read = (p: string) =>
        p === abs
          ? text
          : (() => {
              try {
                return readFileSync(p, 'utf8');
              } catch {
                return undefined;
              }
            })();
      try {
        const r = checkProgram(entry, { read, budgets: true });
        for (const d of r.diagnostics) {
          expect(d.code).toMatch(/^FLX\d{4}$/);
          expect(d.span.line).toBeGreaterThanOrEqual(1);
          expect(d.span.column).toBeGreaterThanOrEqual(1);
          expect(d.message.length).toBeGreaterThan(0);
          render(d, (f) => [...r.program.files.values()].find((x) => x.path === f)?.text);
        }
        if (r.diagnostics.length) withErrors++;
        else {
          clean++;
          if (plan && (k % 5 === 0 || !entry.includes('gpt'))) compile(entry, plan, { read });
        }
      } catch (e) {
        throw new Error(
          `mutation #${k} of ${target} (seed ${1000 + k}) crashed: ${(e as Error).stack}\n--- source ---\n${text}`,
        );
      }
    }
    expect(clean + withErrors).toBe(TOTAL);
    expect(withErrors).toBeGreaterThan(TOTAL / 2);
  }, 600_000);

  it('the CLI answers mutants with exit 0 or 1 and no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flexc-fuzz-'));
    try {
      for (let k = 0; k < 12; k++) {
        const src = mutate(readFileSync('examples/mlp.flex', 'utf8'), 5000 + k);
        const f = join(dir, `m${k}.flex`);
        writeFileSync(f, src);
        const r = spawnSync(process.execPath, ['bin/flexc.mjs', 'check', f], { encoding: 'utf8' });
        expect([0, 1], `exit ${r.status}: ${r.stderr}`).toContain(r.status);
        expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+\)?\n/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
