import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { CpuSession } from '../../compiler/interp/session.ts';

/**
 * flexc as a new project uses it: `npm pack`, the tarball installed into a project in a temporary
 * directory outside the repository with no network (the locked dependencies come from npm's cache,
 * which the repository's own `npm ci` filled), `npx flexc build` there, and the generated driver
 * run by plain `node` from an ES module and from a CommonJS one.
 */
const REPO = resolve('.');
const npm = (args: string[], cwd: string) =>
  spawnSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
  });
const ok = (r: SpawnSyncReturns<string>) => expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);

type LockEntry = {
  version: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
};

/**
 * The app's package-lock.json: flexc from the tarball, and the closure of flexc's dependencies as
 * the repository locked them (so `npm ci --offline` finds every tarball in the cache).
 */
function appLock(tarball: string, integrity: string): object {
  const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    version: string;
    dependencies: Record<string, string>;
    bin: Record<string, string>;
    engines: Record<string, string>;
  };
  const packages: Record<string, LockEntry> = {};
  // node's lookup: a dependency of the package at `from` is nested under it or in an ancestor's node_modules
  const find = (from: string, name: string): string => {
    for (let at = from; ; at = at.replace(/\/?node_modules\/(@[^/]+\/)?[^/]+$/, '')) {
      const p = `${at ? `${at}/` : ''}node_modules/${name}`;
      if (lock.packages[p]) return p;
      if (!at) throw new Error(`the lock has no ${name} for ${from}`);
    }
  };
  const visit = (path: string) => {
    if (packages[path]) return;
    const { dev: _d, devOptional: _o, peer: _p, ...entry } = lock.packages[path]!;
    packages[path] = entry;
    for (const name of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
      try {
        visit(find(path, name));
      } catch (e) {
        if (!entry.optionalDependencies?.[name]) throw e;
      }
    }
  };
  for (const name of Object.keys(pkg.dependencies)) visit(find('', name));
  return {
    name: 'app',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'app', dependencies: { flexc: `file:${tarball}` } },
      'node_modules/flexc': {
        version: pkg.version,
        resolved: `file:${tarball}`,
        integrity,
        license: 'MIT',
        dependencies: pkg.dependencies,
        bin: pkg.bin,
        engines: pkg.engines,
      },
      ...packages,
    },
  };
}

const ESM_APP = `import { readFileSync } from 'node:fs';
import { openGpu } from 'flexc/runtime';
import { createFlex2LayerMlpSmall } from './build/small/driver.js';

const feeds = JSON.parse(readFileSync('feeds.json', 'utf8'));
const inputs = { x: Float32Array.from(feeds.x), y: Int32Array.from(feeds.y) };
const net = await createFlex2LayerMlpSmall(await openGpu());
const losses = [];
for (let s = 0; s < 3; s++) losses.push((await net.trainStep(inputs)).loss);
const prediction = await net.forward({ x: inputs.x });
console.log(JSON.stringify({ losses, outputs: Object.keys(prediction), logits: Array.from(prediction.logits) }));
net.destroy();
`;

const CJS_APP = `const { readFileSync } = require('node:fs');
const { openGpu } = require('flexc/runtime');
const { createFlex2LayerMlpSmall } = require('./build/small/driver.js');

(async () => {
  const feeds = JSON.parse(readFileSync('feeds.json', 'utf8'));
  const net = await createFlex2LayerMlpSmall(await openGpu());
  const out = await net.trainStep({ x: Float32Array.from(feeds.x), y: Int32Array.from(feeds.y) });
  console.log(JSON.stringify({ loss: out.loss }));
  net.destroy();
})();
`;

// the driver's types as an app's TypeScript sees them, from an ES module (export default) and a CommonJS one (export =)
const tsApp = (exportIt: string) => `import { openGpu, type Gpu } from 'flexc/runtime';
import { createFlex2LayerMlpSmall, type Flex2LayerMlpSmallForwardOutputs } from './build/small/driver.js';
async function main(): Promise<[Float32Array, number | undefined]> {
  const gpu: Gpu = await openGpu();
  const net = await createFlex2LayerMlpSmall(gpu);
  const out: Flex2LayerMlpSmallForwardOutputs = await net.forward({ x: new Float32Array(72) });
  // @ts-expect-error: x is required
  await net.forward({});
  return [out.logits, out.loss];
}
${exportIt}
`;

// the same driver API for target c: no device, the compiled library beside the driver
const NATIVE_APP = `import { readFileSync } from 'node:fs';
import { createFlex2LayerMlpSmall, type Flex2LayerMlpSmall } from './build-c/small/driver.ts';

const feeds = JSON.parse(readFileSync('feeds.json', 'utf8')) as { x: number[]; y: number[] };
const inputs = { x: Float32Array.from(feeds.x), y: Int32Array.from(feeds.y) };
const net: Flex2LayerMlpSmall = await createFlex2LayerMlpSmall();
const losses: number[] = [];
for (let s = 0; s < 3; s++) losses.push((await net.trainStep(inputs)).loss);
const params = await net.saveParameters();
console.log(JSON.stringify({ target: net.session.plan.target, losses, w: Array.from(params['linear.w']) }));
net.destroy();
`;

describe('flexc as an installed package', () => {
  let app: string;
  let packDir: string;
  let source: string;
  beforeAll(() => {
    packDir = mkdtempSync(join(tmpdir(), 'flexc-pack-'));
    app = mkdtempSync(join(tmpdir(), 'flexc-app-'));
    // packed from a copy of the sources, whose `prepare` builds its own dist/: the repository's dist/, which other test
    // files running alongside read through bin/flexc.mjs, is never rebuilt under them
    source = mkdtempSync(join(tmpdir(), 'flexc-source-'));
    const skip = new Set(['node_modules', 'dist', '.git', 'test', 'scratch', '.tmp']);
    for (const entry of readdirSync(REPO))
      if (!skip.has(entry)) cpSync(join(REPO, entry), join(source, entry), { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(source, 'node_modules'));
  });
  afterAll(() => {
    for (const d of [packDir, app, source]) rmSync(d, { recursive: true, force: true });
  });

  it(
    'packs, installs offline into a new project, builds there, and trains 3 steps ' +
      'through the driver with plain node (ESM and CommonJS) as the CPU reference does',
    () => {
      const pack = npm(['pack', '--json', '--pack-destination', packDir], source);
      ok(pack);
      const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as [
        { filename: string; integrity: string; files: { path: string }[] },
      ];
      const files = info.files.map((f) => f.path);
      expect(files).toEqual(
        expect.arrayContaining([
          'bin/flexc.mjs',
          'dist/flexc.mjs',
          'dist/runtime.mjs',
          'dist/lsp-analyzer.mjs',
          'dist/runtime.cjs',
          'dist/types/esm/index.d.ts',
          'dist/types/cjs/index.d.ts',
          'stdlib/nn.flex',
        ]),
      );
      expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);

      const tarball = join(packDir, info.filename);
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'app', private: true, dependencies: { flexc: `file:${tarball}` } }, null, 2),
      );
      writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(tarball, info.integrity), null, 2));
      ok(npm(['ci', '--offline', '--ignore-scripts'], app));

      // a file name that starts with a digit still gives the driver a valid name
      copyFileSync('examples/mlp.flex', join(app, '2-layer-mlp.flex'));
      const build = spawnSync(
        'npx',
        ['--offline', 'flexc', 'build', '2-layer-mlp.flex', '--plan', 'small', '--emit', 'js'],
        { cwd: app, encoding: 'utf8' },
      );
      ok(build);
      expect(build.stderr).toContain('built small');

      const r = compile('examples/mlp.flex', 'small');
      const cpu = new CpuSession(r.module!, { seed: 0, graphs: graphResolver(r.program) });
      const feeds = cpu.feeds(r.module!, 1);
      writeFileSync(
        join(app, 'feeds.json'),
        JSON.stringify({ x: Array.from(feeds.get('x')!.data), y: Array.from(feeds.get('y')!.data) }),
      );
      const want = [0, 1, 2].map(() => cpu.run().get('loss')!.data[0]!);

      writeFileSync(join(app, 'app.mjs'), ESM_APP);
      const esm = spawnSync(process.execPath, ['app.mjs'], { cwd: app, encoding: 'utf8' });
      ok(esm);
      const got = JSON.parse(esm.stdout) as { losses: number[]; outputs: string[]; logits: number[] };
      got.losses.forEach((l, i) => expect(Math.abs(l - want[i]!), `step ${i + 1}`).toBeLessThan(1e-5));
      expect(got.outputs).toEqual(['logits']);
      expect(got.logits).toHaveLength(6 * 5);

      writeFileSync(join(app, 'app.cjs'), CJS_APP);
      const cjs = spawnSync(process.execPath, ['app.cjs'], { cwd: app, encoding: 'utf8' });
      ok(cjs);
      expect(Math.abs((JSON.parse(cjs.stdout) as { loss: number }).loss - want[0]!)).toBeLessThan(1e-5);
    },
  );

  it('builds the same plan for target c there (gcc), and a TypeScript app trains 3 steps through its driver ' +
    'as the CPU reference does', () => {
    const build = spawnSync(
      'npx',
      ['--offline', 'flexc', 'build', '2-layer-mlp.flex', '--plan', 'small', '--target', 'c', '-o', 'build-c'],
      { cwd: app, encoding: 'utf8' },
    );
    ok(build);
    expect(build.stderr).toContain('built small (c, cpu-class kernels)');
    writeFileSync(join(app, 'app-c.mts'), NATIVE_APP);
    const run = spawnSync(process.execPath, [resolve('node_modules/tsx/dist/cli.mjs'), 'app-c.mts'], {
      cwd: app,
      encoding: 'utf8',
    });
    ok(run);
    const got = JSON.parse(run.stdout) as { target: string; losses: number[]; w: number[] };
    const r = compile('examples/mlp.flex', 'small');
    const cpu = new CpuSession(r.module!, { seed: 0, graphs: graphResolver(r.program) });
    const want = [0, 1, 2].map(() => cpu.run().get('loss')!.data[0]!);
    expect(got.target).toBe('c');
    got.losses.forEach((l, i) => expect(Math.abs(l - want[i]!) / want[i]!, `step ${i + 1}`).toBeLessThan(1e-5));
    const w = cpu.params.get('linear.w')!.data;
    const err = Math.hypot(...got.w.map((x, i) => x - w[i]!)) / Math.hypot(...Array.from(w));
    expect(err, 'linear.w after 3 steps').toBeLessThan(1e-5);
  }, 120_000);

  it('the installed language server analyses in its worker: a misspelt op gets its diagnostic', async () => {
    const proc = spawn(process.execPath, [join(app, 'node_modules/flexc/bin/flexc.mjs'), 'lsp', '--stdio'], {
      cwd: app,
    });
    const send = (m: object) => {
      const body = JSON.stringify({ jsonrpc: '2.0', ...m });
      proc.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    let buf = '';
    const diagnostics = new Promise<{ code: string }[]>((done) =>
      proc.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /"method":"textDocument\/publishDiagnostics","params":(\{.*?"diagnostics":\[.*?\]\})/.exec(buf);
        if (m) done(JSON.parse(m[1]!).diagnostics);
      }),
    );
    try {
      send({ id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} } });
      send({ method: 'initialized', params: {} });
      const text = readFileSync('examples/mlp.flex', 'utf8').replace('cross_entropy(', 'cross_entropi(');
      const uri = pathToFileURL(join(app, 'typo.flex')).href;
      send({ method: 'textDocument/didOpen', params: { textDocument: { uri, languageId: 'flex', version: 1, text } } });
      expect((await diagnostics).map((d) => d.code)).toEqual(['FLX2010']);
    } finally {
      proc.kill();
    }
  }, 60_000);

  it('the runtime and driver declarations type-check in an ESM and a CommonJS TypeScript app', () => {
    writeFileSync(join(app, 'app.mts'), tsApp('export default main;'));
    writeFileSync(join(app, 'app.cts'), tsApp('export = main;'));
    const tsconfig = {
      compilerOptions: {
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: [],
        typeRoots: [resolve('node_modules/@types')],
      },
      files: ['app.mts', 'app.cts'],
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = spawnSync(
      process.execPath,
      [resolve('node_modules/typescript/bin/tsc'), '-p', join(app, 'tsconfig.json')],
      { encoding: 'utf8' },
    );
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });
});
