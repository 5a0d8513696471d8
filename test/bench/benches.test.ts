import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const tsx = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['node_modules/tsx/dist/cli.mjs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });

describe('benches run', () => {
  it('bench:compile compiles GPT-2 small and its 16x deeper copy (whose budget grows with it)', () => {
    const r = tsx(['bench/compile.ts'], { BENCH_REPEAT: '1' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/GPT-2 x16 \(192 layers\) +\d+/);
    expect(r.stdout).toMatch(/ratio deep\/small: [\d.]+/);
  });

  it("bench:remat solves a chain in Griewank's model", () => {
    const r = tsx(['bench/remat.ts', '--chain', '20', '--slots', '3', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('a failing bench prints one line, not a stack trace', () => {
    mkdirSync('.tmp', { recursive: true });
    writeFileSync(
      '.tmp/failing-bench.ts',
      "import '../bench/fail-plainly.ts';\nawait Promise.resolve();\nthrow new Error('no such plan');\n",
    );
    const r = tsx(['.tmp/failing-bench.ts']);
    rmSync('.tmp/failing-bench.ts');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('bench failed: no such plan');
  });
});
