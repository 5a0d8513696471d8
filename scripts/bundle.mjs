// Builds what the package ships (dist/): the CLI bundle (dist/flexc.mjs; bin/flexc.mjs falls back
// to tsx without it) and the runtime that generated drivers import as `flexc/runtime`, as ESM
// (dist/runtime.mjs) and CommonJS (dist/runtime.cjs) with type declarations for both.
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { build } from 'esbuild';

// chunk names are hashes: a fresh folder, so that no stale chunk is shipped or hashed into the budget cache's key
rmSync('dist', { recursive: true, force: true });

const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning' };

await build({
  ...common,
  // the language server's analyser runs in a worker thread of its own entry (compiler/lsp/analyzer-client.ts)
  entryPoints: { flexc: 'compiler/cli/main.ts', 'lsp-analyzer': 'compiler/lsp/analyzer.ts' },
  // chunks: what only some commands need (driver generation's ts-morph) loads when they run
  outdir: 'dist',
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  format: 'esm',
  // pure-JS dependencies are bundled (chevrotain's lodash-es alone is hundreds of modules to resolve);
  // native, wasm and large CommonJS ones stay external
  external: ['ts-morph', 'webgpu', 'koffi', 'highs', 'esbuild', 'tsx', '@tensorflow/*'],
  sourcemap: 'linked',
  // bundled CommonJS (commander) requires Node's built-ins
  banner: {
    js:
      "import { createRequire as __flexcRequire } from 'node:module'; " +
      'const require = __flexcRequire(import.meta.url);',
  },
});

// the runtime: its dependencies stay external (Dawn, `webgpu`, is native and loaded by openGpu() only)
for (const [format, ext] of [
  ['esm', 'mjs'],
  ['cjs', 'cjs'],
]) {
  await build({
    ...common,
    entryPoints: ['runtime/index.ts'],
    outfile: `dist/runtime.${ext}`,
    format,
    external: ['webgpu', 'koffi', 'zod'],
  });
}

// type declarations: tsc writes them for the ESM build; the CommonJS copy differs only in the
// package type its folder declares (TypeScript reads a .d.ts as the module kind of its folder)
const types = 'dist/types';
rmSync(types, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(
  process.execPath,
  [
    tsc,
    'runtime/index.ts',
    '--declaration',
    '--emitDeclarationOnly',
    '--outDir',
    `${types}/esm`,
    '--rootDir',
    'runtime',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--target',
    'es2022',
    '--strict',
    '--skipLibCheck',
    '--allowImportingTsExtensions',
    '--types',
    'node,@webgpu/types',
  ],
  { stdio: 'inherit' },
);
const walk = (d) =>
  readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
// relative imports name the emitted .js files, which TypeScript maps to their .d.ts
for (const f of walk(`${types}/esm`))
  writeFileSync(f, readFileSync(f, 'utf8').replace(/(from '\.{1,2}\/[^']*)\.ts'/g, "$1.js'"));
cpSync(`${types}/esm`, `${types}/cjs`, { recursive: true });
writeFileSync(`${types}/esm/package.json`, '{ "type": "module" }\n');
writeFileSync(`${types}/cjs/package.json`, '{ "type": "commonjs" }\n');
