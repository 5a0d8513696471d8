// Runs before `npm test`: on a fresh clone, installs the locked dependencies first.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('node_modules/.package-lock.json') || !existsSync('node_modules/vitest')) {
  console.log('flexc: installing dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}
