import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { parsePlan } from '../../runtime/plan.ts';
import { sharedGpu } from '../helpers/gpu.ts';

const OUT = '.tmp/build-test';
const flexc = (...args: string[]) => spawnSync(process.execPath, ['bin/flexc.mjs', ...args], { encoding: 'utf8' });

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(p, readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

rmSync(OUT, { recursive: true, force: true });
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

describe('flexc build', () => {
  const builds = [
    ['examples/mlp.flex', 'small'],
    ['examples/gpt.flex', 'tiny'],
    ['examples/gcn-cora.flex', 'train'],
  ] as const;

  it('writes plan.json, one .wgsl per kernel, driver.ts and report.txt; twice gives byte-identical output', () => {
    for (const [file, plan] of builds) {
      const r = flexc('build', file, '--plan', plan, '-o', OUT);
      expect(r.status, r.stderr).toBe(0);
      const dir = join(OUT, plan);
      const first = snapshot(dir);
      const p = parsePlan(JSON.parse(first.get(join(dir, 'plan.json'))!));
      for (const k of p.kernels) expect(first.get(join(dir, k.file)), k.file).toMatch(new RegExp(`^// ${k.name}: `));
      expect(first.get(join(dir, 'report.txt'))).toContain(`predicted peak (live): ${p.predictedPeakBytes} bytes`);
      expect(flexc('build', file, '--plan', plan, '-o', OUT).status).toBe(0);
      expect(snapshot(dir)).toEqual(first);
    }
  });

  it('the generated drivers type-check with tsc --noEmit', () => {
    writeFileSync(join(OUT, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.json', include: builds.map(([, p]) => `${p}/driver.ts`) }));
    const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', join(OUT, 'tsconfig.json')], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('a failed build leaves the previous output intact', () => {
    const before = snapshot(join(OUT, 'small'));
    mkdirSync('.tmp', { recursive: true });
    writeFileSync('.tmp/broken.flex', readFileSync('examples/mlp.flex', 'utf8').replace('relu(', 'relu(('));
    const r = flexc('build', '.tmp/broken.flex', '--plan', 'small', '-o', OUT);
    expect(r.status).toBe(1);
    expect(snapshot(join(OUT, 'small'))).toEqual(before);
    expect(readdirSync(OUT).filter((f) => f.includes('.tmp-') || f.includes('.old-'))).toEqual([]);
    rmSync('.tmp/broken.flex');
  });

  it('the driver trains: its first step gives the CPU reference loss and gradients', async () => {
    const mod = (await import(/* @vite-ignore */ pathToFileURL(resolve(OUT, 'small/driver.ts')).href)) as { createMlpSmall(gpu: unknown): Promise<{ trainStep(i: Record<string, unknown>): Promise<Record<string, number | Float32Array>>; saveParameters(): Promise<Record<string, Float32Array>>; destroy(): void }> };
    const net = await mod.createMlpSmall(await sharedGpu());
    const r = compile('examples/mlp.flex', 'small');
    const cpu = new CpuSession(r.module!, { seed: 0, graphs: graphResolver(r.program) });
    const feeds = cpu.feeds(r.module!, 1);
    const want = cpu.run();
    const got = await net.trainStep({ x: feeds.get('x')!.data, y: feeds.get('y')!.data });
    expect(Math.abs((got['loss'] as number) - want.get('loss')!.data[0]!)).toBeLessThan(1e-6);
    expect(Array.from(got['grad:linear.w'] as Float32Array)).toEqual(Array.from(want.get('grad:linear.w')!.data).map((x) => expect.closeTo(x, 6)));
    const params = await net.saveParameters();
    expect(Object.keys(params).sort()).toEqual(['linear.b', 'linear.w', 'linear_1.b', 'linear_1.w']);
    net.destroy();
  });
});
