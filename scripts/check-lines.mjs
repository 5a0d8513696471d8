// Fails when a source line is longer than 120 characters (what biome's formatter cannot break:
// strings, comments, regular expressions). Run by `npm run lint`, which `npm test` runs.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const MAX = 120;
const ROOTS = ['bin', 'bench', 'compiler', 'grammar', 'runtime', 'scripts', 'test', 'vitest.config.ts'];
const walk = (p) =>
  statSync(p).isDirectory() ? readdirSync(p).flatMap((f) => walk(join(p, f))) : /\.(ts|mjs|js)$/.test(p) ? [p] : [];
const long = [];
for (const file of ROOTS.flatMap(walk))
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => [...line].length > MAX && long.push(`${file}:${i + 1}: ${[...line].length} characters`));
if (long.length) {
  process.stderr.write(
    `${long.join('\n')}\n${long.length} line${long.length === 1 ? '' : 's'} over ${MAX} characters\n`,
  );
  process.exit(1);
}
