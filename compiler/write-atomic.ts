import { chmodSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';

/**
 * Writes a file whole or not at all: into a temporary name beside it, then renamed over it. An
 * existing file keeps what it was: a link is written through to its target, the mode is kept, and a
 * file with several hard links is rewritten in place (a rename would leave the other names on the
 * old text), which is not atomic.
 */
export function writeAtomic(path: string, text: string): void {
  const target = existing(path);
  const at = target?.real ?? path;
  if (target && target.links > 1) {
    writeFileSync(at, text);
    return;
  }
  const tmp = `${at}.flexc-${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, target ? { mode: target.mode } : {});
    if (target) chmodSync(tmp, target.mode);
    renameSync(tmp, at);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

function existing(path: string): { real: string; mode: number; links: number } | undefined {
  try {
    const real = realpathSync(path);
    const st = statSync(real);
    return { real, mode: st.mode & 0o7777, links: st.nlink };
  } catch {
    return undefined;
  }
}
