import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The flexc package's root folder, found from this module whether it runs from source or from the bundle. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(d, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'flexc') return d;
    const up = dirname(d);
    if (up === d) throw new Error('internal: cannot find the flexc package root');
    d = up;
  }
}
