import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODES } from '../../grammar/codes.ts';

const flexc = (...args: string[]) => spawnSync(process.execPath, ['bin/flexc.mjs', ...args], { encoding: 'utf8' });
const walk = (d: string): string[] =>
  readdirSync(d).flatMap((f) =>
    statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : f.endsWith('.ts') ? [join(d, f)] : [],
  );

describe('the table of diagnostics', () => {
  it('every code raised anywhere in the sources has an entry, and every entry is raised somewhere', () => {
    const raised = new Set<string>();
    for (const f of [...walk('compiler'), ...walk('grammar'), ...walk('runtime')].filter(
      (f) => !f.endsWith('codes.ts'),
    ))
      for (const m of readFileSync(f, 'utf8').matchAll(/FLX\d{4}/g)) raised.add(m[0]);
    const missing = [...raised].filter((c) => !(c in CODES));
    expect(missing, 'codes raised without an entry in grammar/codes.ts').toEqual([]);
    expect(
      Object.keys(CODES).filter((c) => !raised.has(c)),
      'entries no code raises',
    ).toEqual([]);
    for (const [c, d] of Object.entries(CODES)) {
      expect(d.summary.length, c).toBeGreaterThan(5);
      expect(d.explanation.length, c).toBeGreaterThan(d.summary.length);
    }
  });

  it('the malformed corpus raises only codes the table has', () => {
    for (const f of readdirSync('test/malformed').filter((f) => f.endsWith('.flex'))) {
      const m = /\/\/ expect: (FLX\d{4})/.exec(readFileSync(join('test/malformed', f), 'utf8'));
      if (m) expect(CODES, f).toHaveProperty(m[1]!);
    }
  });

  it(
    'flexc explain prints an entry (by code or number), lists them ' +
      'all, and a wrong code is a usage error with a did-you-mean',
    () => {
      const r = flexc('explain', 'FLX3014');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('FLX3014: a size is not a whole number\n\nA size computed by division');
      expect(r.stdout).toContain('For example, this raises it:\n\n    plan p');
      expect(flexc('explain', '4010').stdout).toMatch(/^FLX4010: the GPU budget cannot be met/);
      const all = flexc('explain');
      expect(all.stdout.trim().split('\n')).toHaveLength(Object.keys(CODES).length);
      const bad = flexc('explain', 'FLX3O14');
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('no diagnostic FLX3O14; did you mean `FLX3014`?');
    },
  );
});
