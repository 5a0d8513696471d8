import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, type Stats } from 'node:fs';
import { sep } from 'node:path';

/** A file that cannot be read as asked: missing, not a regular file, too large, or outside where it must be. */
export class FileReadError extends Error {}

const what = (st: Stats): string =>
  st.isDirectory()
    ? 'a folder'
    : st.isFIFO()
      ? 'a FIFO'
      : st.isCharacterDevice() || st.isBlockDevice()
        ? 'a device'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file';

const inside = (dir: string, p: string) => p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * Reads a regular file of at most `limit` bytes. Links are followed to the real path, which must lie
 * in one of `within` when given; a folder, FIFO, device or socket is refused without blocking on it
 * (opened non-blocking, checked on the open descriptor), and so is a file larger than `limit`,
 * however it reports its size. Every refusal is a FileReadError naming `shown`.
 */
export function readRegularFile(
  path: string,
  limit: number,
  opts: { within?: string[]; shown?: string; place?: string } = {},
): Buffer {
  const shown = opts.shown ?? path;
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new FileReadError(`${shown} does not exist`);
  }
  if (opts.within && !opts.within.some((d) => inside(realOr(d), real)))
    throw new FileReadError(`${shown} is a link that leads outside ${opts.place ?? 'the project'} (to ${real})`);
  let fd: number;
  try {
    fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new FileReadError(`cannot open ${shown} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new FileReadError(`${shown} is ${what(st)}, not a file`);
    if (st.size > limit) throw new FileReadError(`${shown} is ${st.size} bytes, more than the ${limit} flexc reads`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, limit + 1 - total) || 1);
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > limit) throw new FileReadError(`${shown} holds more than the ${limit} bytes flexc reads`);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

function realOr(d: string): string {
  try {
    return realpathSync(d);
  } catch {
    return d;
  }
}
