// `npm run mutate [-- stryker options]`: StrykerJS over stryker.config.mjs. The sandbox it copies
// the project into sits in .stryker-tmp/, so the examples' data (../../shared/data from examples/)
// is linked there first.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { resolve } from 'node:path';

mkdirSync('.stryker-tmp', { recursive: true });
if (!existsSync('.stryker-tmp/shared') && existsSync('../shared'))
  symlinkSync(resolve('../shared'), '.stryker-tmp/shared');
const r = spawnSync(
  process.execPath,
  ['node_modules/@stryker-mutator/core/bin/stryker.js', 'run', ...process.argv.slice(2)],
  {
    stdio: 'inherit',
  },
);
process.exit(r.status ?? 1);
