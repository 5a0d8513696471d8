import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkProgram } from '../../compiler/check-program.ts';
import { compile } from '../../compiler/compile.ts';
import { checkFile } from '../../compiler/sema/check.ts';

const DIR = '.tmp/check-phases';
mkdirSync(DIR, { recursive: true });
afterAll(() => rmSync(DIR, { recursive: true, force: true }));
const flexc = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['bin/flexc.mjs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
  });

describe('checking runs in phases', () => {
  // beside the examples, so that its data paths resolve
  const bad = 'examples/_phases_test.flex';
  writeFileSync(bad, readFileSync('examples/gpt.flex', 'utf8').replace('d: 16, heads: 2', 'd: 48, heads: 5'));
  afterAll(() => rmSync(bad, { force: true }));

  it(
    'semantic checking resolves plans without lowering them; ' +
      'the layer above lowers them; compile lowers just its plan',
    () => {
      const sema = checkFile(bad);
      expect(sema.diagnostics).toEqual([]);
      expect([...sema.plans.keys()].map((d) => d.name.name)).toEqual([
        'tiny',
        'tiny_serve',
        'gpt2_small',
        'shakespeare',
      ]);
      const full = checkProgram(bad);
      expect(full.diagnostics.map((d) => d.code)).toEqual(['FLX3014']);
      expect([...full.lowered.keys()].map((d) => d.name.name)).toEqual(['tiny_serve', 'gpt2_small', 'shakespeare']);
      expect(compile(bad, 'gpt2_small').module).toBeDefined();
      expect(compile(bad, 'tiny').diagnostics.map((d) => d.code)).toEqual(['FLX3014']);
    },
  );

  it('flexc check caches budget answers by compiler and sources: ' +
    'the second run reads them, an edit is checked again', () => {
    const cache = mkdtempSync(join(tmpdir(), 'flexc-cache-'));
    try {
      const file = `${DIR}/resmlp.flex`;
      const src = readFileSync('examples/resmlp.flex', 'utf8');
      writeFileSync(file, src);
      expect(flexc(['check', file], { XDG_CACHE_HOME: cache }).status).toBe(0);
      const entries = readdirSync(join(cache, 'flexc', 'budgets'));
      expect(entries).toHaveLength(1);
      expect(flexc(['check', file], { XDG_CACHE_HOME: cache }).status).toBe(0);
      expect(readdirSync(join(cache, 'flexc', 'budgets'))).toEqual(entries);
      writeFileSync(file, src.replace('memory: { gpu: 4 GB }', 'memory: { gpu: 40 MB }'));
      const tight = flexc(['check', file], { XDG_CACHE_HOME: cache });
      expect(tight.status).toBe(1);
      expect(tight.stderr).toContain('error[FLX4010]');
      expect(readdirSync(join(cache, 'flexc', 'budgets'))).toHaveLength(2);
      const again = flexc(['check', file], { XDG_CACHE_HOME: cache });
      expect(again.stderr).toBe(tight.stderr);
      const uncached = flexc(['check', file], { XDG_CACHE_HOME: cache, FLEXC_NO_CACHE: '1' });
      expect(uncached.stderr).toBe(tight.stderr);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 180_000);
});
