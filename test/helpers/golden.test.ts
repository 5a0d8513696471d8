import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectGolden } from './golden.ts';

describe('golden files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flexc-golden-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing golden fails (it is not written), a different one fails, the same passes', () => {
    const path = join(dir, 'x.ir');
    expect(() => expectGolden(path, 'a\n')).toThrow(/is missing: write it with npm run golden:update/);
    writeFileSync(path, 'a\n');
    expect(() => expectGolden(path, 'b\n')).toThrow(/golden file/);
    expect(() => expectGolden(path, 'a\n')).not.toThrow();
  });

  it('UPDATE_GOLDEN no longer rewrites anything', () => {
    const path = join(dir, 'y.ir');
    writeFileSync(path, 'old\n');
    process.env['UPDATE_GOLDEN'] = '1';
    try {
      expect(() => expectGolden(path, 'new\n')).toThrow(/golden file/);
    } finally {
      delete process.env['UPDATE_GOLDEN'];
    }
  });
});
