// `flexc check examples/*.flex` as an editor's inner loop: a fresh process, first with an empty
// budget cache (every budgeted plan scheduled), then with the cache the first run filled.
// Prints seconds per run (best of BENCH_REPEAT) and the ratio warm/cold.
import './fail-plainly.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPEAT = Number(process.env['BENCH_REPEAT'] ?? 3);
const files = readdirSync('examples')
  .filter((f) => f.endsWith('.flex'))
  .map((f) => join('examples', f));
spawnSync('npm', ['run', 'build'], { stdio: 'ignore' });

function run(cache: string): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['bin/flexc.mjs', 'check', ...files], {
    encoding: 'utf8',
    env: { ...process.env, XDG_CACHE_HOME: cache },
  });
  if (r.status !== 0) throw new Error(`flexc check failed: ${r.stderr.trim().split('\n')[0]}`);
  return (performance.now() - t0) / 1000;
}

let cold = Infinity;
let warm = Infinity;
for (let i = 0; i < REPEAT; i++) {
  const cache = mkdtempSync(join(tmpdir(), 'flexc-bench-cache-'));
  cold = Math.min(cold, run(cache));
  warm = Math.min(warm, run(cache));
  rmSync(cache, { recursive: true, force: true });
}
console.log(`flexc check of ${files.length} example files, best of ${REPEAT} (goal: under 2 s)`);
console.log(`  empty budget cache: ${cold.toFixed(2)} s`);
console.log(`  warm budget cache:  ${warm.toFixed(2)} s`);
console.log(`ratio warm/cold: ${(warm / cold).toFixed(2)}`);
