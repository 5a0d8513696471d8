import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { render } from '../../grammar/diagnostics.ts';
import { graphResolver } from '../../compiler/cli/run.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuPlanSession } from '../../compiler/interp/plan-session.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { checkProgram } from '../../compiler/check-program.ts';
import { STDLIB_DIR } from '../../compiler/sema/program.ts';
import { IndexOutOfRange } from '../../compiler/ir/op.ts';
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

/** Every this many clean mutants of a target also go through the back end: passes, codegen and one CPU step. */
const BACK_END_EVERY = 4;

describe('fuzzing the front end with mutated examples', () => {
  it(`${TOTAL} mutations: only diagnostics, never a crash; clean ones through the passes, codegen and a step`, () => {
    const clean = TARGETS.map(() => 0);
    const withErrors = TARGETS.map(() => 0);
    const backEnd = TARGETS.map(() => 0);
    for (let k = 0; k < TOTAL; k++) {
      const t = k % TARGETS.length;
      const [entry, target, plan] = TARGETS[t]!;
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
          const shown = render(d, (f) => [...r.program.files.values()].find((x) => x.path === f)?.text);
          expect(
            [...shown].some((c) => c !== '\n' && (c < ' ' || c === '\u007f')),
            `mutation #${k}: a control character reaches the terminal`,
          ).toBe(false);
        }
        if (r.diagnostics.length) withErrors[t]!++;
        else if (plan && clean[t]!++ % BACK_END_EVERY === 0) {
          const c = compile(entry, plan, { read });
          // a clean mutant may still be wrong where only lowering with the plan's sizes can tell
          if (!c.module) {
            expect(c.diagnostics.length, `mutation #${k}: no module and no diagnostic`).toBeGreaterThan(0);
            continue;
          }
          const { plan: built } = buildPlan(
            c.module,
            c.lowered!.config,
            {},
            { limits: { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 40 } },
          );
          const graphs = graphResolver(c.program);
          const cpu = new CpuSession(c.module, { seed: 0, graphs });
          // the plan in its own poisoned arena computes bitwise what the interpreter does
          const arena = built.arenas.gpu <= 2 ** 28 ? new CpuPlanSession(c.module, built, { graphs }, true) : undefined;
          arena?.loadParameters(new Map([...cpu.params].map(([n, v]) => [n, v.data])));
          try {
            const got = arena?.run();
            for (const [n, v] of cpu.run())
              if (got) expect(Array.from(got.get(n)!), `mutation #${k}: ${n}`).toEqual(Array.from(v.data));
          } catch (e) {
            // labels from the data outside the classes a mutant's model has: `flexc run` reports FLX6003
            if (!(e instanceof IndexOutOfRange)) throw e;
          }
          backEnd[t]!++;
        } else if (!plan) clean[t]!++;
      } catch (e) {
        throw new Error(
          `mutation #${k} of ${target} (seed ${1000 + k}) crashed: ${(e as Error).stack}\n--- source ---\n${text}`,
        );
      }
    }
    if (process.env['FUZZ_REPORT']) console.log(JSON.stringify({ clean, withErrors, backEnd }));
    // every target yields both kinds, and the clean ones of each compiled target reached the back end
    TARGETS.forEach(([, target, plan], t) => {
      expect(withErrors[t], `${target}: mutants with errors`).toBeGreaterThan(TOTAL / TARGETS.length / 3);
      if (TOTAL >= 500) expect(clean[t], `${target}: clean mutants`).toBeGreaterThan(0);
      if (plan && TOTAL >= 500) expect(backEnd[t], `${target}: through the back end`).toBeGreaterThan(0);
    });
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
