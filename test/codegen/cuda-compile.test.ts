import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../compiler/compile.ts';
import { lowerValue } from '../../compiler/kernel/lower/index.ts';
import { OPS } from '../../compiler/ir/ops/registry.ts';
import { NO_KERNEL_OPS } from '../../compiler/ir/ops/tier.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { runPipeline } from '../../compiler/passes/pipeline.ts';
import { copyModule } from '../../compiler/plan-pipeline.ts';
import { compileIn, writeSources } from '../../compiler/targets/compile.ts';
import { differentiate } from '../../compiler/passes/autodiff.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import { singleOpModule } from '../helpers/oracle.ts';
import { OP_CASES } from '../ir/op-cases.ts';
import { spmmAccModule } from '../helpers/spmm-acc.ts';

const hasNvcc = spawnSync('nvcc', ['--version']).status === 0;
if (!hasNvcc) console.warn('NOTICE: nvcc is not on the PATH; the CUDA compile tests are skipped');

const ARCHS = ['sm_80', 'sm_90'];
const work = mkdtempSync(join(tmpdir(), 'flexc-cuda-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const flexc = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, ['bin/flexc.mjs', ...args], { encoding: 'utf8', env });

/** No GPU is needed: these tests check that nvcc accepts what the CUDA target writes, for Ampere and Hopper. */
describe.skipIf(!hasNvcc)('CUDA kernels and host libraries compile with nvcc (sm_80 and sm_90)', () => {
  it('the kernel of every op of the registry (each op case, forward and backward)', () => {
    const kernels = new Map<string, string>();
    const ops = new Set<string>();
    for (const c of OP_CASES) {
      const m = singleOpModule(c);
      for (const v of differentiate(m, m.outputs[0]!.value).values) {
        if (v.op === 'input' || v.op === 'param' || v.op === 'state' || NO_KERNEL_OPS.has(v.op)) continue;
        const k = lowerValue(v, 'gpu');
        kernels.set(k.name, TARGETS.cuda.render(k));
        ops.add(v.op);
      }
    }
    // optimizers, fusion and sparse ops come from whole models: the example plans, a prompt with a KV cache, a block
    const modules = [
      compile('examples/mlp.flex', 'small').module!,
      compile('examples/gcn-cora.flex', 'train').module!,
      compile('examples/gpt.flex', 'tiny').module!,
    ];
    const serve = compile('examples/gpt.flex', 'tiny_serve');
    modules.push(serve.module!, serve.decode!.at(-1)!.module, spmmAccModule().m);
    for (const m of modules)
      for (const v of m.values)
        if (v.op !== 'input' && v.op !== 'param' && v.op !== 'state' && !NO_KERNEL_OPS.has(v.op)) {
          const k = lowerValue(v, 'gpu');
          kernels.set(k.name, TARGETS.cuda.render(k));
          ops.add(v.op);
        }
    for (const op of OPS.keys())
      if (!NO_KERNEL_OPS.has(op)) expect(ops.has(op), `no CUDA kernel of ${op} was compiled`).toBe(true);
    writeFileSync(join(work, 'ops.cu'), ['#include <cstdint>', ...kernels.values()].join('\n'));
    const nvcc = spawnSync(
      'nvcc',
      [...ARCHS.flatMap((a) => ['-gencode', `arch=compute_${a.slice(3)},code=${a}`]), '-c', 'ops.cu', '-o', 'ops.o'],
      { cwd: work, encoding: 'utf8' },
    );
    expect(nvcc.status, nvcc.stderr).toBe(0);
  }, 300_000);

  for (const [file, plan] of [
    ['examples/mlp.flex', 'small'],
    ['examples/gpt.flex', 'tiny'],
    ['examples/gcn-cora.flex', 'train'],
  ] as const)
    it(`flexc build ${file} --plan ${plan} --target cuda: kernels, host library and libplan.so`, () => {
      const out = join(work, plan);
      const r = flexc(['build', file, '--plan', plan, '--target', 'cuda', '--arch', ARCHS.join(','), '-o', out]);
      expect(r.status, r.stderr).toBe(0);
      const files = readdirSync(join(out, plan));
      expect(files).toContain('libplan.so');
      expect(files).toContain('plan.cu');
      expect(readdirSync(join(out, plan, 'kernels')).every((f) => f.endsWith('.cu'))).toBe(true);
    }, 300_000);
});

describe.skipIf(!hasNvcc)('CUDA host libraries with copies between tiers compile with nvcc', () => {
  it.each([
    ['examples/gcn-cora.flex', 'train', 'host'],
    ['examples/gpt.flex', 'tiny', 'ssd'],
  ] as const)(
    '%s --plan %s, placement: %s: pinned host memory, the spill file in stream order',
    (file, plan, tier) => {
      const r = compile(file, plan);
      const config = { ...r.lowered!.config, placement: tier };
      const m = runPipeline(copyModule(r.lowered!.forward), { config });
      const built = buildPlan(m, config, {}, { target: TARGETS.cuda });
      expect(built.plan.steps.some((s) => s.kind === 'copy')).toBe(true);
      const dir = join(work, `tiers-${plan}`);
      writeSources(built, dir);
      compileIn(TARGETS.cuda, dir, built.host!.file, 'libplan.so', { arch: ARCHS });
      expect(readdirSync(dir)).toContain('libplan.so');
    },
    300_000,
  );
});

describe.skipIf(!hasNvcc)('a partitioned plan’s CUDA host library (one rank a process, NCCL between) compiles', () => {
  it('gpt_3d (tensor 2 × pipeline 2 × data 2): steps in runs between exchanges, the device side NCCL is handed', () => {
    const r = compile('test/partition/models.flex', 'gpt_3d');
    const built = buildPlan(r.module!, r.lowered!.config, {}, { target: TARGETS.cuda, ranks: { dataParallel: true } });
    for (const fn of ['flexc_run_steps', 'flexc_at', 'flexc_stream', 'flexc_sync', 'flexc_scratch', 'flexc_copy'])
      expect(built.host!.code).toContain(`${fn}(void* p`);
    const dir = join(work, 'ranks');
    writeSources(built, dir);
    compileIn(TARGETS.cuda, dir, built.host!.file, 'libplan.so', { arch: ARCHS });
    expect(readdirSync(dir)).toContain('libplan.so');
  }, 300_000);
});

const hasGpu = spawnSync('nvidia-smi', ['-L']).status === 0;

describe.skipIf(hasGpu)('flexc run --backend cuda without an NVIDIA GPU', () => {
  it('is FLX7010 (nvcc compiled the plan, no device ran it), or FLX7009 without nvcc; exit 1, no stack', () => {
    const r = flexc(['run', 'examples/mlp.flex', '--plan', 'small', '--backend', 'cuda']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toMatch(hasNvcc ? /error\[FLX7010\]: no CUDA device/ : /error\[FLX7009\]/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 120_000);
});

describe('target cuda without nvcc', () => {
  it('is a coded error naming nvcc with a hint, and --no-compile writes the sources', () => {
    const env = { ...process.env, PATH: '/nonexistent' };
    const out = join(work, 'no-nvcc');
    const r = flexc(['build', 'examples/mlp.flex', '--plan', 'small', '--target', 'cuda', '-o', out], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/FLX7009/);
    expect(r.stderr).toMatch(/nvcc/);
    expect(r.stderr).toMatch(/hint: .*CUDA toolkit/);
    const ok = flexc(
      ['build', 'examples/mlp.flex', '--plan', 'small', '--target', 'cuda', '--no-compile', '-o', out],
      env,
    );
    expect(ok.status, ok.stderr).toBe(0);
    expect(readdirSync(join(out, 'small'))).toContain('plan.cu');
    expect(readdirSync(join(out, 'small'))).not.toContain('libplan.so');
  }, 120_000);
});
