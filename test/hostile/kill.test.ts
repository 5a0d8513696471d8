import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recoverInterrupted } from '../../compiler/cli/build.ts';
import { loadBuild } from '../../runtime/build-dir.ts';

/**
 * `flexc build` and `flexc fmt` killed with SIGKILL at moments spread over their run: what is left is
 * the old output or the new one, whole, never a mix, never nothing; and the next build clears what
 * the killed one left behind.
 */
const dir = mkdtempSync(join(tmpdir(), 'flexc-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CLI = resolve('bin/flexc.mjs');
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir });

/** Starts the CLI and kills it with SIGKILL after `ms` milliseconds (or lets it finish first). */
function killedAfter(ms: number, ...args: string[]): Promise<void> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [CLI, ...args], { cwd: dir, stdio: 'ignore' });
    const t = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('exit', () => {
      clearTimeout(t);
      done();
    });
  });
}

const leftovers = (folder: string) => readdirSync(folder).filter((n) => /\.(tmp|old)-\d+$/.test(n));

describe('killed in the middle', () => {
  cpSync(resolve('examples/mlp.flex'), join(dir, 'mlp.flex'));

  it('flexc build: the output is always a whole build; leftovers are cleared by the next build', async () => {
    expect(cli('build', 'mlp.flex', '--plan', 'train', '-o', 'out').status).toBe(0);
    const final = join(dir, 'out', 'train');
    for (const ms of [150, 300, 450, 600, 750, 900, 1100, 1400]) {
      await killedAfter(ms, 'build', 'mlp.flex', '--plan', 'train', '-o', 'out');
      // whatever the moment, a whole build is there once what was interrupted is recovered
      const again = cli('build', 'mlp.flex', '--plan', 'train', '-o', 'out');
      expect(again.status, again.stderr).toBe(0);
      expect(loadBuild(final).plan.name).toBe('train');
      expect(leftovers(join(dir, 'out')), `after a kill at ${ms} ms`).toEqual([]);
    }
  }, 120_000);

  it('a build killed between moving the old output aside and the new one in: the old output comes back', () => {
    const out = join(dir, 'out2');
    expect(cli('build', 'mlp.flex', '--plan', 'train', '-o', 'out2').status).toBe(0);
    const final = join(out, 'train');
    // the state a SIGKILL leaves at that moment: no output, the old one aside, the new one half written
    writeFileSync(join(final, 'report.txt'), 'the old output\n');
    cpSync(final, `${final}.old-999999`, { recursive: true });
    rmSync(final, { recursive: true });
    mkdirSync(`${final}.tmp-999998`);
    writeFileSync(join(`${final}.tmp-999998`, 'plan.json'), '{"half');
    recoverInterrupted(final);
    expect(readFileSync(join(final, 'report.txt'), 'utf8')).toBe('the old output\n');
    expect(leftovers(out)).toEqual([]);
    // and a build does the same on its own before writing
    cpSync(final, `${final}.old-999997`, { recursive: true });
    rmSync(final, { recursive: true });
    const again = cli('build', 'mlp.flex', '--plan', 'train', '-o', 'out2');
    expect(again.status, again.stderr).toBe(0);
    expect(loadBuild(final).plan.name).toBe('train');
    expect(leftovers(out)).toEqual([]);
  }, 60_000);

  it('flexc fmt: the file is the old text or the formatted one, whole', async () => {
    const messy = `${readFileSync(resolve('examples/gpt.flex'), 'utf8').replace(/^ {2}/gm, '    ')}`;
    const formatted = readFileSync(resolve('examples/gpt.flex'), 'utf8');
    for (const ms of [50, 150, 250, 350, 500]) {
      writeFileSync(join(dir, 'fmt.flex'), messy);
      await killedAfter(ms, 'fmt', 'fmt.flex');
      const now = readFileSync(join(dir, 'fmt.flex'), 'utf8');
      expect([messy, formatted], `after a kill at ${ms} ms`).toContain(now);
    }
    expect(existsSync(join(dir, 'fmt.flex'))).toBe(true);
  }, 60_000);
});
