import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../runtime/plan.ts';

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

describe('a step past its time limit on the device', () => {
  it('flexc run --backend webgpu --time-limit: FLX7008 at the plan, exit 1', () => {
    const r = spawnSync(
      process.execPath,
      // the train plan's step takes several milliseconds on SwiftShader, so that a busy machine cannot finish it
      // within the limit before the timer fires (the small plan's step sometimes did)
      ['bin/flexc.mjs', 'run', 'examples/mlp.flex', '--plan', 'train', '--backend', 'webgpu', '--time-limit', '0.001'],
      { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[FLX7008]: step 1 of plan `train` did not finish on the device within 0.001 s');
    expect(r.stderr).toContain('--> examples/mlp.flex:14:6');
  }, 60_000);

  it('a kernel file edited to loop 2³² times: the step fails at its limit, and the process can exit', () => {
    const out = join(dir, 'spin');
    const built = spawnSync(
      process.execPath,
      ['bin/flexc.mjs', 'build', 'examples/mlp.flex', '--plan', 'small', '--device-class', 'cpu', '-o', out],
      { encoding: 'utf8' },
    );
    expect(built.status, built.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(join(out, 'small', 'plan.json'), 'utf8')) as Plan;
    const kernel = plan.kernels.find((k) => k.name.startsWith('add_'))!;
    const file = join(out, 'small', kernel.file);
    const spin =
      'var spin = 0u;\n  loop { spin += 1u; if (spin == 4294967295u) { break; } }\n' +
      '  let tid = gid.x + gid.y * 64u + (spin - 4294967295u);';
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('let tid = gid.x + gid.y * 64u;');
    writeFileSync(file, text.replace('let tid = gid.x + gid.y * 64u;', spin));
    // as an application would: the packaged runtime, then exit once the step has failed
    const app = join(dir, 'spin.mjs');
    const runtime = JSON.stringify(pathToFileURL(resolve('dist/runtime.mjs')).href);
    writeFileSync(
      app,
      `import { loadBuild, openGpu, WebGpuSession } from ${runtime};
const b = loadBuild(${JSON.stringify(join(out, 'small'))});
const opts = { graphs: b.graphs, timeLimitSeconds: 2 };
const s = await WebGpuSession.create(await openGpu(), b.plan, b.sources, opts);
const t0 = Date.now();
const seconds = () => (Date.now() - t0) / 1000;
try { await s.run(); console.log('finished'); }
catch (e) { console.log(JSON.stringify({ error: e.constructor.name, message: e.message, seconds: seconds() })); }
try { await s.run(); } catch (e) { console.log(JSON.stringify({ again: e.constructor.name })); }
process.exit(0);
`,
    );
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [app], { encoding: 'utf8', timeout: 60_000 });
    const took = (performance.now() - t0) / 1000;
    expect(r.status, r.stderr).toBe(0);
    const [first, again] = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(first.error).toBe('StepTimeLimitError');
    expect(first.message).toContain('step 1 of plan `small` did not finish on the device within 2 s');
    expect(first.message).toContain(kernel.name);
    expect(first.seconds).toBeGreaterThanOrEqual(2);
    expect(again).toEqual({ again: 'StepTimeLimitError' });
    // 2³² iterations take minutes on SwiftShader: the process did not wait for them
    expect(took).toBeLessThan(30);
  }, 90_000);
});
