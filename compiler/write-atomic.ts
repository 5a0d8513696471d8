import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** Writes a file whole or not at all: into a temporary name beside it, then renamed over it. */
export function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.flexc-${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
