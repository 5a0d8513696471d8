#!/usr/bin/env node
// The flexc command: runs the bundled CLI (made by `npm run build`), or the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/flexc.mjs', import.meta.url);
if (existsSync(bundle) && !process.env.FLEXC_FROM_SOURCE) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../compiler/cli/main.ts');
}
