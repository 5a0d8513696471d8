import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkProgram } from '../../compiler/check-program.ts';
import { cpuTrainer } from '../../compiler/cli/trainers.ts';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { DataError } from '../../runtime/data/graph.ts';
import { diagnose } from '../../compiler/lsp/diagnostics.ts';
import { hover } from '../../compiler/lsp/hover.ts';
import { Workspace } from '../../compiler/lsp/workspace.ts';

/**
 * Files that are not what they claim: links out of the project, to /dev/zero, FIFOs, folders, files
 * too large, for imports and for data alike. Each is refused with a diagnostic naming it, at once:
 * nothing blocks on a FIFO, reads a device, or prints a file from outside the project.
 */
const dir = mkdtempSync(join(tmpdir(), 'flexc-hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'package.json'), '{}');
const at = (name: string) => join(dir, name);
const MODEL = 'model M() {\n  input x: f32[4]\n  output y = relu(x)\n}\n';
const importing = (name: string, target: string) => writeFileSync(at(name), `import { M } from "./${target}"\n`);

function firstError(path: string) {
  const r = checkProgram(path);
  return r.diagnostics.filter((d) => d.severity === 'error')[0];
}

function flexc(...args: string[]) {
  const r = spawnSync(process.execPath, [resolve('bin/flexc.mjs'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
    timeout: 30_000,
    cwd: dir,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('imports that are not files in the project', () => {
  it.each([
    [
      'a link to /etc/passwd',
      () => symlinkSync('/etc/passwd', at('passwd.flex')),
      'passwd',
      /leads outside the project/,
    ],
    ['a link to /dev/zero', () => symlinkSync('/dev/zero', at('zero.flex')), 'zero', /leads outside the project/],
    ['a FIFO', () => spawnSync('mkfifo', [at('fifo.flex')]), 'fifo', /fifo\.flex is a FIFO, not a file/],
    ['a folder named x.flex', () => mkdirSync(at('folder.flex')), 'folder', /folder\.flex is a folder, not a file/],
    [
      'a file over 4 MiB',
      () => {
        writeFileSync(at('huge.flex'), '');
        truncateSync(at('huge.flex'), 5 * 2 ** 20);
      },
      'huge',
      /huge\.flex is 5242880 bytes, more than the 4194304 flexc reads/,
    ],
  ])('%s: FLX2000 at the import, naming the file', (_, make, target, message) => {
    make();
    importing(`imports-${target}.flex`, target);
    const d = firstError(at(`imports-${target}.flex`));
    expect(d?.code).toBe('FLX2000');
    expect(d?.span.line).toBe(1);
    expect(d?.message).toMatch(message);
    expect(d?.message).not.toContain('root:'); // nothing of /etc/passwd is shown
  });

  it('a link inside the project to a file inside it is followed', () => {
    writeFileSync(at('real.flex'), MODEL);
    symlinkSync(at('real.flex'), at('alias.flex'));
    importing('imports-alias.flex', 'alias');
    expect(firstError(at('imports-alias.flex'))).toBeUndefined();
  });

  it('the CLI: `flexc check` and `flexc fmt` on a folder exit 1 with a message, not EISDIR', () => {
    mkdirSync(at('dir.flex'));
    const check = flexc('check', 'dir.flex');
    expect(check.code).toBe(1);
    expect(check.err).toContain('dir.flex is a folder, not a file');
    const fmt = flexc('fmt', 'dir.flex');
    expect(fmt.code).toBe(1);
    expect(fmt.err).toBe('flexc fmt: dir.flex is a folder, not a file\n');
    const fifo = flexc('check', 'fifo.flex');
    expect(fifo.code).toBe(1);
    expect(fifo.err).toContain('is a FIFO, not a file');
  }, 60_000);

  it('a byte-order mark is whitespace', () => {
    writeFileSync(at('bom.flex'), `\ufeff${MODEL}`);
    expect(firstError(at('bom.flex'))).toBeUndefined();
  });
});

describe('fmt writes through what is there', () => {
  const messy = 'model M() {\ninput x: f32[4]\n  output y = relu(x)\n}\n';
  it('a link stays a link (its target is rewritten), the mode is kept, hard links stay linked', () => {
    writeFileSync(at('target.flex'), messy);
    chmodSync(at('target.flex'), 0o600);
    symlinkSync(at('target.flex'), at('link.flex'));
    linkSync(at('target.flex'), at('hard.flex'));
    expect(flexc('fmt', 'link.flex').code).toBe(0);
    expect(lstatSync(at('link.flex')).isSymbolicLink()).toBe(true);
    expect(readFileSync(at('target.flex'), 'utf8')).toBe(MODEL);
    expect(statSync(at('target.flex')).mode & 0o777).toBe(0o600);
    expect(readFileSync(at('hard.flex'), 'utf8')).toBe(MODEL);
    writeFileSync(at('plain.flex'), messy);
    chmodSync(at('plain.flex'), 0o640);
    expect(flexc('fmt', 'plain.flex').code).toBe(0);
    expect(statSync(at('plain.flex')).mode & 0o777).toBe(0o640);
  }, 60_000);
});

describe('data files that are not files', () => {
  const labels = Int32Array.from([0, 1, 0]);
  const graphFile = (name: string, labelFile: string) =>
    writeFileSync(
      at(name),
      `graph G {\n  nodes: 3\n  labels: i32[nodes] from "${labelFile}"\n}\n\n` +
        'model M() on g: G {\n  param w: f32[3, 2] = normal(std: 0.1)\n' +
        '  let logits = w + 0\n  output loss = cross_entropy(logits, g.labels)\n}\n\n' +
        'plan p {\n  model: M\n  task: train { optimizer: sgd(lr: 0.1) }\n  steps: 1\n}\n',
    );
  const step = (name: string) => {
    const r = compile(at(name), 'p');
    if (r.diagnostics.length) throw new DataError(r.diagnostics.map((d) => `${d.code} ${d.message}`).join('; '));
    return cpuTrainer(r.module!, r.lowered!.config, graphResolver(r.program)).step('loss');
  };

  it('real labels train', async () => {
    writeFileSync(at('labels.i32'), Buffer.from(labels.buffer));
    graphFile('graph-ok.flex', 'labels.i32');
    expect(Number.isFinite(await step('graph-ok.flex'))).toBe(true);
  });

  it.each([
    ['a link to /dev/zero', () => symlinkSync('/dev/zero', at('zero.i32')), 'zero.i32', /zero\.i32 is a device/],
    ['a FIFO', () => spawnSync('mkfifo', [at('fifo.i32')]), 'fifo.i32', /fifo\.i32 is a FIFO/],
    ['a folder', () => mkdirSync(at('folder.i32')), 'folder.i32', /folder\.i32 is a folder/],
  ])('labels from %s: FLX6002 naming the file, without blocking', async (_, make, file, message) => {
    make();
    graphFile(`graph-${file}.flex`, file);
    const e = await (async () => step(`graph-${file}.flex`))().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DataError);
    expect((e as Error).message).toMatch(/^FLX6002 /);
    expect((e as Error).message).toMatch(message);
  });
});

describe('the language server', () => {
  it('a document over 4 MiB gets one diagnostic at once, not minutes of analysis', () => {
    const ws = new Workspace();
    const path = at('big.flex');
    ws.set(path, `${MODEL}${'// filler\n'.repeat(500_000)}`);
    const t0 = performance.now();
    const ds = diagnose(ws, path).get(path)!;
    expect(ds.map((d) => d.code)).toEqual(['FLX2000']);
    expect(ds[0]!.message).toMatch(/more than flexc reads/);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(hover(ws, path, { line: 0, character: 6 })).toBeNull();
  });

  it('a document importing a FIFO or /dev/zero is answered with a diagnostic, without blocking', () => {
    const ws = new Workspace();
    for (const target of ['fifo', 'zero']) {
      const path = at(`lsp-imports-${target}.flex`);
      ws.set(path, `import { M } from "./${target}"\n`);
      const ds = diagnose(ws, path).get(path)!;
      expect(ds.map((d) => d.code)).toEqual(['FLX2000']);
    }
  });
});
