import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { BuiltPlan } from '../codegen/plan.ts';
import type { CompileOptions, Target } from './target.ts';

/** The toolchain a target needs is missing or failed: what ran, what it said, and what to install. */
export class ToolchainError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Writes a plan's kernels and host library into `dir` (kernels/<name>.<ext>, host file). */
export function writeSources(built: BuiltPlan, dir: string): void {
  mkdirSync(join(dir, 'kernels'), { recursive: true });
  for (const k of built.plan.kernels) writeFileSync(join(dir, k.file), built.sources.get(k.name)!);
  if (built.host) writeFileSync(join(dir, built.host.file), built.host.code);
}

/** Compiles the host library in `dir` (written by writeSources) into `dir/<out>`. */
export function compileIn(target: Target, dir: string, host: string, out: string, opts: CompileOptions = {}): void {
  if (!target.compiler) throw new Error(`internal: target ${target.name} compiles nothing`);
  const cmd = target.compiler(host, out, opts);
  const r = spawnSync(cmd.exe, cmd.args, { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT')
    throw new ToolchainError(`target ${target.name} needs \`${cmd.exe}\`, which is not on the PATH`, cmd.hint);
  if (r.status !== 0) {
    const said = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n').slice(0, 20).join('\n');
    throw new ToolchainError(`internal: \`${cmd.exe} ${cmd.args.join(' ')}\` failed in ${dir}:\n${said}`);
  }
}

function cacheRoot(): string {
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'flexc', 'libraries');
}

/**
 * The plan's shared library, compiled once per distinct source and kept in the cache
 * ($XDG_CACHE_HOME/flexc/libraries, else ~/.cache/flexc/libraries): `flexc run --backend native` and tests reuse it.
 */
export function cachedLibrary(target: Target, built: BuiltPlan, opts: CompileOptions = {}): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([target.name, target.compiler!('host', 'lib.so', opts), process.env['CC'] ?? '']));
  for (const k of built.plan.kernels) h.update(built.sources.get(k.name)!);
  h.update(built.host?.code ?? '');
  const dir = join(cacheRoot(), h.digest('hex').slice(0, 24));
  const lib = join(dir, 'lib.so');
  if (existsSync(lib)) return lib;
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeSources(built, tmp);
    compileIn(target, tmp, built.host!.file, 'lib.so', opts);
    try {
      renameSync(tmp, dir);
    } catch {
      // another process put it there first
      if (!existsSync(lib)) throw new Error(`internal: cannot place the compiled library in ${dir}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return lib;
}
