import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** Runs `flexc hw probe --backend webgpu --quick` into `dir`: this machine as a hardware description (Probed). */
export function probeHardware(dir: string): string {
  const file = join(dir, 'probed.flex');
  const probe = spawnSync(
    process.execPath,
    ['node_modules/tsx/dist/cli.mjs', 'compiler/cli/main.ts', 'hw', 'probe', '--backend', 'webgpu', '--quick'].concat([
      '-o',
      file,
    ]),
    { encoding: 'utf8' },
  );
  if (probe.status !== 0) throw new Error(`flexc hw probe failed: ${probe.stderr}`);
  return file;
}
