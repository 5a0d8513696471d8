import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { expect } from 'vitest';

/**
 * Compares text with a golden file. A missing golden fails like a wrong one: goldens are written
 * only by `npm run golden:update` (scripts/update-goldens.mjs, which sets FLEXC_GOLDEN_UPDATE and
 * prints the diff to review and commit on its own).
 */
export function expectGolden(path: string, actual: string): void {
  if (process.env['FLEXC_GOLDEN_UPDATE'] === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) throw new Error(`golden file ${path} is missing: write it with npm run golden:update`);
  expect(actual, `golden file ${path} (npm run golden:update rewrites it and prints the diff)`).toBe(
    readFileSync(path, 'utf8'),
  );
}
