import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBuild } from '../../runtime/build-dir.ts';
import { PlanError, type Plan } from '../../runtime/plan.ts';

/**
 * A build tampered with, one way per case: the runtime refuses it with a PlanError naming what is
 * wrong before anything runs, never a TypeError, a raw ENOENT or a plan that "trains" to loss 0.
 */
const root = mkdtempSync(join(tmpdir(), 'flexc-tamper-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const built = spawnSync(
  process.execPath,
  ['bin/flexc.mjs', 'build', 'examples/mlp.flex', '--plan', 'small', '--device-class', 'cpu', '-o', root],
  { encoding: 'utf8' },
);
if (built.status !== 0) throw new Error(`flexc build failed: ${built.stderr}`);
const good = join(root, 'small');
const original = JSON.parse(readFileSync(join(good, 'plan.json'), 'utf8')) as Plan;
let n = 0;

/** A copy of the good build with its plan changed by `edit` (and the folder by `files`). */
function tampered(edit: (p: Plan) => unknown, files?: (dir: string) => void): string {
  const dir = join(root, `case-${n++}`);
  cpSync(good, dir, { recursive: true });
  const plan = structuredClone(original);
  const out = edit(plan) ?? plan;
  writeFileSync(join(dir, 'plan.json'), typeof out === 'string' ? out : JSON.stringify(out));
  files?.(dir);
  return dir;
}

const launches = (p: Plan) => p.steps.flatMap((s, i) => (s.kind === 'launch' ? [[s, i] as const] : []));
const temps = (p: Plan) => p.buffers.filter((b) => b.role === 'temp');
const params = (p: Plan) => p.buffers.filter((b) => b.role === 'param');
const freeOf = (p: Plan, id: number) => p.steps.findIndex((s) => s.kind === 'free' && s.buffer === id);
/** A buffer for the first row of a weight (`past`: the first aligned place after it instead). */
const rowsOf = (p: Plan, past: 0 | 1): Plan['buffers'][number] => {
  const w = params(p).find((b) => b.shape.length === 2)!;
  const offset = w.offset + past * Math.ceil(w.bytes / p.alignment) * p.alignment;
  return { ...w, id: p.buffers.length, shape: [1, w.shape[1]!], bytes: w.bytes / w.shape[0]!, offset, parent: w.id };
};
const firstKernelFile = (p: Plan) => p.kernels.find((k) => !k.name.startsWith('copy_'))!.file;

const CASES: [string, (p: Plan) => unknown, RegExp, ((dir: string) => void)?][] = [
  ['truncated JSON', () => JSON.stringify(original).slice(0, 500), /plan\.json is not JSON/],
  ['an empty plan.json', () => '', /plan\.json is not JSON/],
  ['JSON that is not a plan', () => '[1, 2, 3]', /invalid plan: \(root\)/],
  ['another plan version', (p) => ({ ...p, version: 1 }), /invalid plan: version/],
  ['no buffers field', (p) => ({ ...p, buffers: undefined }), /invalid plan: buffers/],
  ['a buffer whose id is not its position', (p) => void (p.buffers[0]!.id = 99), /buffers\[0\] has id 99/],
  ['a misaligned offset', (p) => void (temps(p)[0]!.offset += 4), /not a multiple of 256/],
  ['a buffer past the arena', (p) => void (temps(p)[0]!.offset = p.arenas.gpu), /ends past the/],
  ['bytes that disagree with the shape', (p) => void (temps(p)[0]!.bytes += 4), /bytes but shape/],
  [
    'a shape shrunk with its bytes',
    (p) => {
      const b = temps(p).find((t) => t.shape[0]! > 1)!;
      b.shape[0]! -= 1;
      b.bytes = b.shape.reduce((a, d) => a * d, 1) * 4;
    },
    /kernel \w+ (writes|reads) .* bound to buffer/,
  ],
  ['a dtype swapped', (p) => void (params(p)[0]!.dtype = 'i32'), /kernel \w+ (writes|reads) .* bound to buffer/],
  ['two parameters overlapping', (p) => void (params(p)[1]!.offset = params(p)[0]!.offset), /overlap/],
  // a range of rows of another buffer (`parent`: a block of a weight kept in host memory, a part of an output)
  ['a range of rows past its buffer', (p) => void p.buffers.push(rowsOf(p, 1)), /does not lie within/],
  [
    'a range of a buffer declared after it',
    (p) => void p.buffers.push({ ...rowsOf(p, 0), parent: p.buffers.length }),
    /is a range of buffer \d+, which is not a whole buffer declared before it/,
  ],
  [
    'a range of rows allocated',
    (p) => {
      p.buffers.push(rowsOf(p, 0));
      p.steps.unshift({ kind: 'alloc', buffer: p.buffers.length - 1 });
    },
    /allocates buffer \d+ .*, a range of another/,
  ],
  ['a temporary over a parameter', (p) => void (temps(p)[0]!.offset = params(p)[0]!.offset), /over live buffer/],
  [
    'a temporary allocated twice',
    (p) => void p.steps.push({ kind: 'alloc', buffer: temps(p)[0]!.id }),
    /allocates buffer \d+ .* again/,
  ],
  [
    'a temporary freed twice',
    (p) => void p.steps.push({ kind: 'free', buffer: temps(p)[0]!.id }),
    /frees buffer \d+ .*, which is freed/,
  ],
  ['a parameter freed', (p) => void p.steps.push({ kind: 'free', buffer: params(p)[0]!.id }), /a param buffer/],
  [
    'a launch before its result is allocated',
    (p) => {
      const id = temps(p)[0]!.id;
      p.steps = p.steps.filter((s) => !(s.kind === 'alloc' && s.buffer === id));
    },
    /which is not allocated/,
  ],
  [
    'a buffer freed before its last reader',
    (p) => {
      const b = temps(p).find((t) => launches(p).filter(([s]) => s.bindings.slice(0, -1).includes(t.id)).length > 1)!;
      const at = freeOf(p, b.id);
      const [free] = p.steps.splice(at, 1);
      const first = p.steps.findIndex((s) => s.kind === 'launch' && s.bindings.slice(0, -1).includes(b.id));
      p.steps.splice(first + 1, 0, free!);
    },
    /which is not allocated/,
  ],
  [
    'a launch with a binding missing',
    (p) => void launches(p)[0]![0].bindings.pop(),
    /binds \d+ buffers to kernel .*, which declares/,
  ],
  [
    'a launch of an undeclared kernel',
    (p) => void (launches(p)[0]![0].kernel = 'nope'),
    /launches kernel nope, which the plan does not declare/,
  ],
  ['10⁹ workgroups', (p) => void (launches(p)[0]![0].dispatch = [1e9, 1, 1]), /dispatches 1000000000 × 1 × 1/],
  ['0 workgroups', (p) => void (launches(p)[0]![0].dispatch = [0, 1, 1]), /each is 1 to 65535/],
  [
    'a result over its operand',
    (p) => {
      const [s] = launches(p).find(([l]) => p.buffers[l.bindings.at(-1)!]!.role === 'temp' && l.bindings.length > 1)!;
      const res = p.buffers[s.bindings.at(-1)!]!;
      res.offset = p.buffers[s.bindings[0]!]!.offset;
    },
    /over live buffer|writes buffer .* over its operand/,
  ],
  [
    'an output freed before the step ends',
    (p) => {
      const o = p.outputs.find((x) => p.buffers[x.buffer]!.role === 'temp')!;
      p.steps.push({ kind: 'free', buffer: o.buffer });
    },
    /is freed before the step ends/,
  ],
  ['an input in a parameter buffer', (p) => void (p.inputs[0]!.buffer = params(p)[0]!.id), /a param buffer/],
  ['a parameter in a temporary', (p) => void (p.params[0]!.buffer = temps(p)[0]!.id), /a temp buffer/],
  ['two inputs of one name', (p) => void (p.inputs[1]!.name = p.inputs[0]!.name), /input `.*` is declared twice/],
  ['two outputs of one name', (p) => void (p.outputs[1]!.name = p.outputs[0]!.name), /output `.*` is declared twice/],
  ['an output of an undeclared input', (p) => void p.outputs[0]!.inputs.push('ghost'), /needs input ghost/],
  ['a buffer id out of range in a step', (p) => void p.steps.push({ kind: 'free', buffer: 9999 }), /buffer 9999/],
  ['a negative offset', (p) => void (temps(p)[0]!.offset = -256), /invalid plan: buffers\.\d+\.offset/],
  ['an unknown step', (p) => void p.steps.push({ kind: 'jump' } as never), /invalid plan: steps/],
  ['a number written as a string', (p) => void ((p.arenas as { gpu: unknown }).gpu = '4096'), /arenas\.gpu/],
  ['alignment 0', (p) => void (p.alignment = 0), /alignment is 0/],
  ['alignment 3', (p) => void (p.alignment = 3), /alignment is 3/],
  ['a kernel declared twice', (p) => void p.kernels.push(p.kernels[0]!), /a kernel is declared twice/],
  [
    'a kernel file up the tree',
    (p) => void (p.kernels[0]!.file = '../../../../../../etc/passwd'),
    /names the file "..\/..\/..\//,
  ],
  ['an absolute kernel file', (p) => void (p.kernels[0]!.file = '/etc/passwd'), /names the file "\/etc\/passwd"/],
  [
    'a kernel file missing',
    () => undefined,
    /kernels\/\w+\.wgsl does not exist/,
    (d) => unlinkSync(join(d, firstKernelFile(original))),
  ],
  [
    'a kernel file that is a FIFO',
    () => undefined,
    /is a FIFO, not a file/,
    (d) => {
      unlinkSync(join(d, firstKernelFile(original)));
      spawnSync('mkfifo', [join(d, firstKernelFile(original))]);
    },
  ],
  [
    'a kernel file linked outside the build',
    () => undefined,
    /a link that leads outside/,
    (d) => {
      unlinkSync(join(d, firstKernelFile(original)));
      symlinkSync('/etc/passwd', join(d, firstKernelFile(original)));
    },
  ],
  [
    'a kernel without its header',
    () => undefined,
    /does not say what it computes/,
    (d) => {
      const f = join(d, firstKernelFile(original));
      writeFileSync(f, readFileSync(f, 'utf8').split('\n').slice(1).join('\n'));
    },
  ],
  [
    'a kernel whose header claims other shapes',
    () => undefined,
    /kernel \w+ (writes|reads)/,
    (d) => {
      const f = join(d, firstKernelFile(original));
      writeFileSync(
        f,
        readFileSync(f, 'utf8').replace(/\[(\d+)/, (_, x: string) => `[${Number(x) + 1}`),
      );
    },
  ],
  ['a target the runtime has no session for', (p) => ({ ...p, target: 'metal' }), /invalid plan: target/],
  [
    'the target switched to c (its kernels are WGSL)',
    (p) => ({ ...p, target: 'c', deviceClass: 'cpu', library: 'libplan.so' }),
    /names the file .*\.wgsl/,
  ],
  ['a c plan without its library', (p) => ({ ...p, target: 'c', deviceClass: 'cpu' }), /c plan must name its library/],
  [
    'a c plan whose library lies outside the build',
    (p) => ({ ...p, target: 'c', deviceClass: 'cpu', library: '../../../tmp/evil.so' }),
    /c plan must name its library, a libNAME\.so beside it/,
  ],
  ['a wgsl plan naming a library', (p) => ({ ...p, library: 'libplan.so' }), /wgsl plan names a library/],
  [
    'a cuda plan with cpu-class kernels',
    (p) => ({ ...p, target: 'cuda', library: 'libplan.so', deviceClass: 'cpu' }),
    /gpu-class kernels only/,
  ],
  [
    'plan.json linked outside the build',
    () => undefined,
    /plan\.json is a link that leads outside/,
    (d) => {
      unlinkSync(join(d, 'plan.json'));
      symlinkSync('/etc/passwd', join(d, 'plan.json'));
    },
  ],
];

describe('a tampered build', () => {
  it('the untouched build loads', () => {
    expect(loadBuild(good).plan.name).toBe('small');
    expect(readdirSync(join(good, 'kernels')).length).toBe(original.kernels.length);
  });
  it(`has at least 40 cases`, () => expect(CASES.length).toBeGreaterThanOrEqual(40));
  it.each(CASES)('%s: a PlanError saying so', (_, edit, message, files) => {
    const dir = tampered(edit, files);
    let thrown: unknown;
    try {
      loadBuild(dir);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(PlanError);
    expect((thrown as Error).message).toMatch(message);
  });
});
