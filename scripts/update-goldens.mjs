// `npm run golden:update`: rewrites the golden files (IR of the examples, pass outputs) from what
// the compiler prints now, then prints what changed, for review and a commit of its own.
import { execFileSync, spawnSync } from 'node:child_process';

const GOLDEN_TESTS = ['test/ir/golden-and-roundtrip.test.ts', 'test/passes/passes.test.ts'];
const DIRS = ['test/golden', 'test/passes'];
const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...GOLDEN_TESTS], {
  stdio: 'inherit',
  env: { ...process.env, FLEXC_GOLDEN_UPDATE: '1' },
});
if (r.status !== 0) process.exit(r.status ?? 1);
const git = (...args) => execFileSync('git', args, { encoding: 'utf8' });
const changed = git('status', '--porcelain', '--', ...DIRS).trim();
if (!changed) {
  console.log('goldens unchanged');
  process.exit(0);
}
console.log(git('--no-pager', 'diff', '--', ...DIRS));
const added = changed.split('\n').filter((l) => l.startsWith('??'));
if (added.length) console.log(`new goldens:\n${added.map((l) => `  ${l.slice(3)}`).join('\n')}`);
console.log('review the diff above, then commit the goldens on their own (git add test/golden test/passes)');
