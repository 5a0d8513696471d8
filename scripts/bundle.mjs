// Bundles the CLI into dist/flexc.mjs so that `flexc` starts fast; bin/flexc.mjs falls back to tsx without it.
import { build } from 'esbuild';

await build({
  entryPoints: ['compiler/cli/main.ts'],
  // chunks: what only some commands need (driver generation's ts-morph) loads when they run
  outdir: 'dist',
  entryNames: 'flexc',
  chunkNames: 'chunk-[hash]',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // pure-JS dependencies are bundled (chevrotain's lodash-es alone is hundreds of modules to resolve);
  // native, wasm and large CommonJS ones stay external
  external: ['ts-morph', 'webgpu', 'highs', 'esbuild', 'tsx', '@tensorflow/*'],
  sourcemap: 'linked',
  logLevel: 'warning',
  // bundled CommonJS (commander) requires Node's built-ins
  banner: { js: "import { createRequire as __flexcRequire } from 'node:module'; const require = __flexcRequire(import.meta.url);" },
});
