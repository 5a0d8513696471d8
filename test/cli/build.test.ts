import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { evalModule, graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { parsePlan } from '../../runtime/plan.ts';
import { loadBuild } from '../../runtime/build-dir.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { relErr } from '../helpers/oracle.ts';

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
  it(
    '--target c writes C kernels and the host library, compiles them, and two builds are byte-identical (the ' +
      'libraries too)',
    () => {
      const files = (dir: string): [string, Buffer][] =>
        readdirSync(dir, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name))
          .sort()
          .map((f) => [f.slice(dir.length), readFileSync(f)]);
      const out = [join(OUT, 'c1'), join(OUT, 'c2')];
      for (const o of out) {
        const r = flexc('build', 'examples/mlp.flex', '--plan', 'small', '--target', 'c', '-o', o);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).toContain('built small (c, cpu-class kernels)');
      }
      const [a, b] = out.map((o) => files(join(o, 'small')));
      expect(a!.map(([f]) => f)).toEqual(
        expect.arrayContaining(['/plan.c', '/forward.c', '/libplan.so', '/libforward.so']),
      );
      expect(a!.filter(([f]) => f.startsWith('/kernels/')).every(([f]) => f.endsWith('.c'))).toBe(true);
      expect(a!.map(([f]) => f)).toEqual(b!.map(([f]) => f));
      a!.forEach(([f, bytes], i) => expect(bytes.equals(b![i]![1]), f).toBe(true));
      const plan = parsePlan(JSON.parse(readFileSync(join(out[0]!, 'small', 'plan.json'), 'utf8')));
      expect([plan.target, plan.library, plan.deviceClass]).toEqual(['c', 'libplan.so', 'cpu']);
      const gpuClass = flexc('build', 'examples/mlp.flex', '--plan', 'small', '--target', 'c', '--device-class', 'gpu');
      expect(gpuClass.status).toBe(2);
      expect(gpuClass.stderr).toContain('target c runs cpu-class kernels, not gpu');
      // without its library (--no-compile) the build is refused when loaded, saying what to compile
      const bare = join(OUT, 'c-bare');
      const r = flexc('build', 'examples/mlp.flex', '--plan', 'small', '--target', 'c', '--no-compile', '-o', bare);
      expect(r.status, r.stderr).toBe(0);
      expect(() => loadBuild(join(bare, 'small'))).toThrow(/libplan\.so is missing .*compile plan\.c there/);
    },
  );

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
    writeFileSync(
      join(OUT, 'tsconfig.json'),
      JSON.stringify({ extends: '../../tsconfig.json', include: builds.map(([, p]) => `${p}/driver.ts`) }),
    );
    const r = spawnSync(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '--noEmit', '-p', join(OUT, 'tsconfig.json')],
      { encoding: 'utf8' },
    );
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
    const mod = (await import(/* @vite-ignore */ pathToFileURL(resolve(OUT, 'small/driver.ts')).href)) as {
      createMlpSmall(gpu: unknown): Promise<{
        trainStep(i: Record<string, unknown>): Promise<Record<string, number | Float32Array>>;
        saveParameters(): Promise<Record<string, Float32Array>>;
        destroy(): void;
      }>;
    };
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const gpu = await sharedGpu();
    const net = await mod.createMlpSmall(gpu);
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    // gpu-class kernels (the default) on a CPU driver such as SwiftShader: the runtime says so once, naming the flag
    const classWarnings = warnings.filter((w) => (w as Error & { code?: string }).code === 'FLEXC_DEVICE_CLASS');
    expect(classWarnings.length).toBe(gpu.deviceClass === 'cpu' ? 1 : 0);
    if (gpu.deviceClass === 'cpu') expect(classWarnings[0]!.message).toContain('flexc build --device-class cpu');
    const r = compile('examples/mlp.flex', 'small');
    const cpu = new CpuSession(r.module!, { seed: 0, graphs: graphResolver(r.program) });
    const feeds = cpu.feeds(r.module!, 1);
    const want = cpu.run();
    const got = await net.trainStep({ x: feeds.get('x')!.data, y: feeds.get('y')!.data });
    expect(Math.abs((got['loss'] as number) - want.get('loss')!.data[0]!)).toBeLessThan(1e-6);
    expect(Array.from(got['grad:linear.w'] as Float32Array)).toEqual(
      Array.from(want.get('grad:linear.w')!.data).map((x) => expect.closeTo(x, 6)),
    );
    const params = await net.saveParameters();
    expect(Object.keys(params).sort()).toEqual(['linear.b', 'linear.w', 'linear_1.b', 'linear_1.w']);
    net.destroy();
  });

  it("a train build carries its evaluation plan: the driver's forward runs it on the trained parameters", async () => {
    type Net = {
      trainStep(i: Record<string, unknown>): Promise<Record<string, unknown>>;
      forward(i: Record<string, unknown>): Promise<Record<string, number | Float32Array>>;
      destroy(): void;
    };
    const mod = (await import(/* @vite-ignore */ pathToFileURL(resolve(OUT, 'small/driver.ts')).href)) as {
      createMlpSmall(gpu: unknown): Promise<Net>;
    };
    const net = await mod.createMlpSmall(await sharedGpu());
    const r = compile('examples/mlp.flex', 'small');
    const cpu = new CpuSession(r.module!, { seed: 0, graphs: graphResolver(r.program) });
    const ev = evalModule(r).module!;
    const feeds = cpu.feeds(r.module!, 1);
    const inputs = { x: feeds.get('x')!.data, y: feeds.get('y')!.data };
    for (let k = 0; k < 2; k++) {
      cpu.run();
      await net.trainStep(inputs);
    }
    const want = cpu.evaluate(ev, 1);
    const got = await net.forward(inputs);
    expect(relErr(got['logits'] as Float32Array, want.get('logits')!.data)).toBeLessThan(1e-5);
    expect(Math.abs((got['loss'] as number) - want.get('loss')!.data[0]!)).toBeLessThan(1e-5);
    // a prediction needs no labels: the outputs that read them are left out
    const predicted = await net.forward({ x: inputs.x });
    expect(Object.keys(predicted)).toEqual(['logits']);
    expect(relErr(predicted['logits'] as Float32Array, want.get('logits')!.data)).toBeLessThan(1e-5);
    net.destroy();
  });

  it("refuses to overwrite another file's build of a plan with the same name, and rebuilds its own", () => {
    const dir = join(OUT, 'clash');
    mkdirSync('.tmp/clash', { recursive: true });
    const files = ['a', 'b'].map((n) => `.tmp/clash/${n}.flex`);
    for (const f of files) writeFileSync(f, readFileSync('examples/mlp.flex', 'utf8'));
    expect(flexc('build', files[0]!, '--plan', 'small', '-o', dir).status).toBe(0);
    const before = snapshot(join(dir, 'small'));
    const r = flexc('build', files[1]!, '--plan', 'small', '-o', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[FLX7006]');
    expect(r.stderr).toContain('holds plan `small` of .tmp/clash/a.flex; building this plan there would overwrite it');
    expect(r.stderr).toContain('-o .tmp/build-test/clash/b');
    expect(snapshot(join(dir, 'small'))).toEqual(before);
    expect(flexc('build', files[0]!, '--plan', 'small', '-o', dir).status).toBe(0);
    mkdirSync(join(dir, 'mine'), { recursive: true });
    writeFileSync(join(dir, 'mine', 'notes.txt'), 'not a build');
    const foreign = flexc(
      'build',
      '.tmp/clash/a.flex',
      '--plan',
      'small',
      '-o',
      join(dir, '..', 'clash'),
      '--emit',
      'ts',
    );
    expect(foreign.status).toBe(0);
    writeFileSync('.tmp/clash/mine.flex', readFileSync('examples/mlp.flex', 'utf8').replace('plan small', 'plan mine'));
    const f2 = flexc('build', '.tmp/clash/mine.flex', '--plan', 'mine', '-o', dir);
    expect(f2.status).toBe(1);
    expect(f2.stderr).toContain('holds files that are not a flexc build');
    expect(readFileSync(join(dir, 'mine', 'notes.txt'), 'utf8')).toBe('not a build');
    rmSync('.tmp/clash', { recursive: true });
  });

  it(
    '--emit js writes a CommonJS driver.js with driver.d.ts; ' + 'file names that start with a digit give valid names',
    () => {
      mkdirSync('.tmp/emit', { recursive: true });
      writeFileSync('.tmp/emit/2-layer-mlp.flex', readFileSync('examples/mlp.flex', 'utf8'));
      const r = flexc(
        'build',
        '.tmp/emit/2-layer-mlp.flex',
        '--plan',
        'small',
        '-o',
        join(OUT, 'emit'),
        '--emit',
        'js',
      );
      expect(r.status, r.stderr).toBe(0);
      const dir = join(OUT, 'emit', 'small');
      expect(
        readdirSync(dir)
          .filter((f) => !f.endsWith('.json') || f === 'package.json')
          .sort(),
      ).toEqual(['driver.d.ts', 'driver.js', 'kernels', 'package.json', 'report.txt']);
      expect(readFileSync(join(dir, 'driver.js'), 'utf8')).toContain(
        'exports.createFlex2LayerMlpSmall = createFlex2LayerMlpSmall;',
      );
      expect(readFileSync(join(dir, 'driver.d.ts'), 'utf8')).toContain(
        'export declare function createFlex2LayerMlpSmall(gpu?: Gpu): Promise<Flex2LayerMlpSmall>;',
      );
      const ts = flexc('build', '.tmp/emit/2-layer-mlp.flex', '--plan', 'small', '-o', join(OUT, 'emit-ts'));
      expect(ts.status, ts.stderr).toBe(0);
      expect(flexc('build', '.tmp/emit/2-layer-mlp.flex', '--plan', 'small', '-o', OUT, '--emit', 'wasm').status).toBe(
        2,
      );
      rmSync('.tmp/emit', { recursive: true });
    },
  );

  it('--json: a summary on stdout when it builds, the diagnostics when it does not (exit 1)', () => {
    const ok = flexc('build', 'examples/mlp.flex', '--plan', 'small', '-o', join(OUT, 'json'), '--json');
    expect(ok.status, ok.stderr).toBe(0);
    const s = JSON.parse(ok.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({
      dir: join(OUT, 'json', 'small'),
      plan: 'small',
      driver: 'driver.ts',
      device_class: 'gpu',
    });
    expect(s['files']).toEqual(expect.arrayContaining(['plan.json', 'forward.json', 'driver.ts', 'report.txt']));
    expect(s['arena_bytes']).toBe(
      parsePlan(JSON.parse(readFileSync(join(OUT, 'json', 'small', 'plan.json'), 'utf8'))).arenas.gpu,
    );
    const bad = flexc('build', 'test/malformed/shape-matmul-inner.flex', '-o', join(OUT, 'json'), '--json');
    expect(bad.status).toBe(1);
    const d = JSON.parse(bad.stdout) as { diagnostics: { code: string }[] };
    expect(d.diagnostics.map((x) => x.code)).toEqual(['FLX3001']);
  });

  it('--device-class picks the kernel variants; both plans validate and name their class', () => {
    for (const cls of ['cpu', 'gpu']) {
      const r = flexc('build', 'examples/gpt.flex', '--plan', 'tiny', '-o', join(OUT, cls), '--device-class', cls);
      expect(r.status, r.stderr).toBe(0);
      const p = parsePlan(JSON.parse(readFileSync(join(OUT, cls, 'tiny', 'plan.json'), 'utf8')));
      expect(p.deviceClass).toBe(cls);
      const matmul = p.kernels.find((k) => k.ops.includes('matmul'))!;
      const code = readFileSync(join(OUT, cls, 'tiny', matmul.file), 'utf8');
      expect(code.includes('var<workgroup>')).toBe(cls === 'gpu');
    }
    expect(flexc('build', 'examples/gpt.flex', '--plan', 'tiny', '-o', OUT, '--device-class', 'tpu').status).toBe(2);
  });

  it('report.txt gives the arena without and with checkpointing and the recompute overhead', () => {
    const src = readFileSync('test/malformed/plan-budget-policy.flex', 'utf8')
      .replace('checkpoint: none', 'checkpoint: auto')
      .replace(/\/\/ expect:.*\n?/, '');
    writeFileSync('.tmp/ckpt.flex', src);
    const r = flexc('build', '.tmp/ckpt.flex', '-o', OUT);
    expect(r.status, r.stderr).toBe(0);
    const report = readFileSync(join(OUT, 'p', 'report.txt'), 'utf8');
    expect(report).toMatch(/checkpoint: +auto \((chain|resident-sets|greedy) solver\) over \d+ stages: /);
    expect(report).toMatch(
      /stages: arena 4\.783 MiB without, [\d.]+ MiB with; recompute \d+ FLOPs \([\d.]+% of the step\)/,
    );
    const p = parsePlan(JSON.parse(readFileSync(join(OUT, 'p', 'plan.json'), 'utf8')));
    expect(p.arenas.gpu).toBeLessThanOrEqual(4.5 * 2 ** 20);
    rmSync('.tmp/ckpt.flex');
  });

  it(
    'respects the device limits: a plan that cannot be bound is ' +
      'FLX7003 naming both numbers, and fits when the limits allow',
    () => {
      const r = flexc('build', 'examples/gpt.flex', '--plan', 'gpt2_small', '-o', OUT);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('error[FLX7003]');
      expect(r.stderr).toContain(
        'tensor wte (f32[50257, 768]) needs 154389504 bytes, more than ' +
          'the device binds at once (maxStorageBufferBindingSize 134217728)',
      );
      expect(r.stderr).toMatch(/--> examples\/gpt.flex:\d+:\d+/);
      const ok = flexc(
        'build',
        'examples/gpt.flex',
        '--plan',
        'gpt2_small',
        '-o',
        OUT,
        '--max-buffer-size',
        '64GiB',
        '--max-binding-size',
        '4GiB',
      );
      expect(ok.status, ok.stderr).toBe(0);
      const p = parsePlan(JSON.parse(readFileSync(join(OUT, 'gpt2_small', 'plan.json'), 'utf8')));
      expect(p.limits).toEqual({ maxBufferSize: 64 * 2 ** 30, maxStorageBufferBindingSize: 4 * 2 ** 30 });
      expect(p.arenas.gpu).toBeLessThanOrEqual(64 * 2 ** 30);
      const small = flexc('build', 'examples/mlp.flex', '--plan', 'small', '-o', OUT, '--max-buffer-size', '1KiB');
      expect(small.status).toBe(1);
      expect(small.stderr).toMatch(
        /the plan's GPU arena needs \d+ bytes, more than the device's largest buffer \(maxBufferSize 1024\)/,
      );
    },
  );
});
