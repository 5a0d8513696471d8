// Bundles the CLI into dist/flexc.mjs so that `flexc` starts fast; bin/flexc.mjs falls back to tsx without it.
import { build } from 'esbuild';

await build({
  entryPoints: ['compiler/cli/main.ts'],
  outfile: 'dist/flexc.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
});
