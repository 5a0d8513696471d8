import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkProgram } from '../../compiler/check-program.ts';
import { graphResolver } from '../../compiler/cli/run.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { summarize } from '../../compiler/cost/plan-summary.ts';
import { CpuPlanSession } from '../../compiler/interp/plan-session.ts';
import { render } from '../../grammar/diagnostics.ts';

/**
 * Hostile input, one idea per file (or per folder, entered at `main.flex`): its last lines say what
 * flexc must answer, `// expect: CODE at LINE:COL: message` (the first diagnostic) with an optional
 * `// expect-count: N`, or `// expect: clean`. Every file goes through every stage a user can reach
 * in-process: check, then for clean files each plan compiled (ir), summarised (plan), built into an
 * execution plan (build) and run for 2 steps in a poisoned CPU arena (run). No stage may throw
 * anything but a diagnostic, and every diagnostic renders safely for a terminal.
 */
const DIR = 'test/hostile';
const entries = readdirSync(DIR)
  .filter((f) => f.endsWith('.flex') || (statSync(`${DIR}/${f}`).isDirectory() && existsSync(`${DIR}/${f}/main.flex`)))
  .sort();

/** Whether a text holds a terminal control character other than the newlines between lines. */
const unsafe = (s: string) => [...s].some((c) => c !== '\n' && (c < ' ' || c === '\u007f'));

/** The stages after check, for a file that checks clean: ir, plan, build, and 2 steps in a poisoned arena. */
function laterStages(path: string): void {
  const r = checkProgram(path);
  for (const decl of r.plans.keys()) {
    const c = compile(path, decl.name.name);
    if (!c.module || !c.lowered) {
      expect(c.diagnostics.length, `${decl.name.name}: no module and no diagnostic`).toBeGreaterThan(0);
      continue;
    }
    summarize(c.module, c.lowered, c.decode);
    const graphs = graphResolver(c.program);
    const { plan } = buildPlan(
      c.module,
      c.lowered.config,
      {},
      { limits: { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 40 } },
    );
    if (plan.arenas.gpu > 2 ** 26) continue;
    const cfg = c.lowered.config;
    const text = cfg.data ? { file: cfg.data.file, split: cfg.data.split } : undefined;
    const s = new CpuPlanSession(c.module, plan, { graphs, text }, true);
    for (let k = 1; k <= 2; k++) {
      const out = s.run();
      // a clean file trains on numbers: a NaN here is nonsense that was let through
      const loss = cfg.task.kind === 'train' ? out.get(cfg.task.loss) : undefined;
      if (loss) expect(Number.isFinite(loss[0]), `${decl.name.name}: the loss at step ${k}`).toBe(true);
    }
  }
}

describe('hostile input', () => {
  for (const f of entries) {
    it(f, () => {
      const path = f.endsWith('.flex') ? `${DIR}/${f}` : `${DIR}/${f}/main.flex`;
      const text = readFileSync(path, 'utf8');
      const m = /\/\/ expect: (?:(FLX\d{4}) at (\d+):(\d+): (.*)|(clean))\s*$/m.exec(text);
      expect(m, 'the file states what is expected').not.toBeNull();
      const r = checkProgram(path, { budgets: true });
      const errors = r.diagnostics.filter((d) => d.severity === 'error');
      for (const d of r.diagnostics) {
        const shown = render(d, (file) => (existsSync(file) ? readFileSync(file, 'utf8') : undefined));
        expect(unsafe(shown), `rendered without terminal control characters: ${JSON.stringify(shown)}`).toBe(false);
        expect(shown).toContain(`--> ${d.span.file}:${d.span.line}:${d.span.column}`);
      }
      if (m![5]) {
        expect(errors.map((d) => `${d.code} at ${d.span.line}:${d.span.column}: ${d.message}`)).toEqual([]);
        laterStages(path);
        return;
      }
      expect(errors.length).toBeGreaterThan(0);
      const d = errors[0]!;
      expect(`${d.code} at ${d.span.line}:${d.span.column}: ${d.message}`).toBe(
        `${m![1]} at ${m![2]}:${m![3]}: ${m![4]}`,
      );
      const count = /\/\/ expect-count: (\d+)\s*$/m.exec(text);
      if (count) expect(r.diagnostics.map((x) => `${x.code} ${x.message}`)).toHaveLength(Number(count[1]));
    }, 30_000);
  }
});
