import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Programs that check clean but whose numbers go wrong when they run: the run stops with a
 * diagnostic at the op that produced the first NaN or infinity (exit 1), instead of training on NaN.
 */
const dir = mkdtempSync(join(tmpdir(), 'flexc-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'package.json'), '{}');

function run(name: string, text: string, ...args: string[]) {
  writeFileSync(join(dir, name), text);
  const r = spawnSync(process.execPath, [resolve('bin/flexc.mjs'), 'run', name, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    cwd: dir,
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const model = (h: string) =>
  `import { Linear } from "std/nn"\n\nmodel M() {\n  input x: f32[4, 3]\n  input t: i32[4]\n  let h = ${h}\n` +
  '  output loss = cross_entropy(Linear(h, out: 5), t)\n}\n\nplan p {\n  model: M\n' +
  '  task: train { optimizer: sgd(lr: 0.1) }\n  steps: 3\n}\n';

describe('runs whose numbers go wrong', () => {
  it('log of negative inputs: FLX6005 at the `log`, exit 1, no steps printed after it', () => {
    const r = run('log.flex', model('log(x)'));
    expect(r.code).toBe(1);
    expect(r.err).toContain('error[FLX6005]: the loss is NaN at step 1: `log` (h) here produced the first NaN');
    expect(r.err).toContain('--> log.flex:6:11');
  }, 60_000);

  it('an overflow to infinity: exp of large numbers, at the `exp`', () => {
    const r = run('exp.flex', model('exp(x * 1000)'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error\[FLX6005\]: the loss is (NaN|Infinity) at step 1: `exp`/);
  }, 60_000);

  it('the same programs with finite numbers train (exit 0)', () => {
    const r = run('ok.flex', model('relu(x)'), '--json');
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { losses: number[] }).losses.every(Number.isFinite)).toBe(true);
  }, 60_000);
});
