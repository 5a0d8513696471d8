import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { expect } from 'vitest';

/** Compares text with a golden file; `UPDATE_GOLDEN=1` rewrites the file instead. */
export function expectGolden(path: string, actual: string): void {
  if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(path)) {
    if (!process.env['CI'] || process.env['UPDATE_GOLDEN'] === '1') {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, actual);
      return;
    }
  }
  expect(actual, `golden file ${path} (rerun with UPDATE_GOLDEN=1 after checking the change)`).toBe(
    readFileSync(path, 'utf8'),
  );
}
