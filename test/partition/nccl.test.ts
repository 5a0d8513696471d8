import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { compile } from '../../compiler/compile.ts';
import { NcclRank } from '../../compiler/interp/nccl-rank.ts';
import { dataIndex, rankCount, tensorIndex } from '../../compiler/interp/ranks.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { cachedLibrary } from '../../compiler/targets/compile.ts';
import { TARGETS } from '../../compiler/targets/registry.ts';
import { loadNccl, ncclCandidates, RanksError, rendezvous } from '../../runtime/native/nccl.ts';
import { LoopbackWorld } from './loopback-nccl.ts';

const FILE = 'test/partition/models.flex';

/**
 * The CUDA ranks' driver (compiler/interp/nccl-rank.ts: one rank a process, its exchanges NCCL calls on its stream)
 * run here without GPUs: each rank a session of the plan compiled to C (whose library hands out host memory where
 * CUDA's hands out device memory), NCCL's calls answered by a stand-in that holds every rank in this process
 * (loopback-nccl.ts). Every kind of exchange is made: sends between pipeline stages, the tensor group's all-reduces,
 * gradient means over the replicas (an expert's over its holders), and the all-gathered operands of sequence,
 * vocabulary and expert parallelism's collectives. Against the CPU reference's simulated ranks, three steps.
 */
describe('CUDA ranks over NCCL, driven here on C libraries with a stand-in NCCL', () => {
  for (const plan of ['gpt_3d', 'gpt12_3d_sp', 'moe_3d'])
    it(`${plan}: every rank its own session and communicators; the CPU reference's losses`, async () => {
      const r = compile(FILE, plan);
      expect(r.diagnostics).toEqual([]);
      const m = r.module!;
      const config = r.lowered!.config;
      const graphs = graphResolver(r.program);
      const ref = new CpuSession(m, { seed: 0, graphs, data: config.parallel.data });
      const held = new CpuSession(m, { seed: 0, graphs, data: config.parallel.data });
      const layout = ref.layout;
      const n = rankCount(layout);
      const target = TARGETS['c'];
      const built = buildPlan(m, config, {}, { target, ranks: { dataParallel: (layout.data ?? 1) > 1 } });
      const library = cachedLibrary(target, built);
      // a process of a launched job initialises its own rank's slices only
      const only = new CpuSession(m, { seed: 0, graphs, data: config.parallel.data, only: n - 1 });
      expect(only.ranks.map((p) => p.size > 0)).toEqual([...Array(n).keys()].map((k) => k === n - 1));
      expect([...only.ranks[n - 1]!.keys()]).toEqual([...held.ranks[n - 1]!.keys()]);
      const world = new LoopbackWorld(n);
      const ranks = [...Array(n).keys()].map((k) =>
        NcclRank.create(built.plan, library, layout, k, held.ranks[k]!, world.nccl(k)),
      );
      try {
        for (let step = 1; step <= 3; step++) {
          const want = ref.run().get('loss')!.data[0]!;
          const outs = await Promise.all(
            ranks.map((x, k) =>
              x.run(
                new Map(
                  [...held.feeds(m, step, dataIndex(layout, k))].map(([name, t]) => [name, t.data as Float32Array]),
                ),
              ),
            ),
          );
          const losses = outs
            .filter((o, k) => o.has('loss') && tensorIndex(layout, k) === 0)
            .map((o) => o.get('loss')![0]!);
          expect(losses.length).toBe(layout.data ?? 1);
          const got = losses.reduce((a, x) => a + x, 0) / losses.length;
          expect(Math.abs(got - want) / Math.abs(want), `step ${step}`).toBeLessThan(1e-4);
        }
      } finally {
        for (const x of ranks) x.destroy();
      }
    }, 120_000);
});

describe('CUDA ranks: what they need from outside', () => {
  it('NCCL from FLEXC_NCCL, the loader or the Python wheel; a coded error where there is none', () => {
    expect(ncclCandidates({ FLEXC_NCCL: '/opt/nccl/libnccl.so.2' }).slice(0, 2)).toEqual([
      '/opt/nccl/libnccl.so.2',
      'libnccl.so.2',
    ]);
    let caught: unknown;
    try {
      loadNccl({ FLEXC_NCCL: '/nonexistent/libnccl.so.2' });
    } catch (e) {
      caught = e;
    }
    // this machine has no NCCL (the GPU machine's wheel has it: scripts/gpu-check.sh)
    if (caught) {
      expect(caught).toBeInstanceOf(RanksError);
      expect((caught as RanksError).message).toMatch(/needs NCCL \(libnccl\.so\.2\), which was not found/);
      expect((caught as RanksError).hint).toMatch(/nvidia-nccl-cu13/);
    }
  });

  it('the rendezvous: NCCL_COMM_ID, else MASTER_ADDR:MASTER_PORT, else a coded error', () => {
    expect(rendezvous({ NCCL_COMM_ID: '10.0.0.1:29500' })).toBe('10.0.0.1:29500');
    const env: NodeJS.ProcessEnv = { MASTER_ADDR: '10.0.0.2', MASTER_PORT: '29501' };
    expect(rendezvous(env)).toBe('10.0.0.2:29501');
    expect(env['NCCL_COMM_ID']).toBe('10.0.0.2:29501');
    expect(() => rendezvous({})).toThrow(RanksError);
  });
});

describe('flexc run on a partitioned plan, compiled', () => {
  const flexc = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, ['bin/flexc.mjs', 'run', FILE, ...args], {
      encoding: 'utf8',
      env: { ...process.env, WORLD_SIZE: '', RANK: '', ...env },
    });
  const losses = (out: string) => [...out.matchAll(/loss (\d+\.\d+)/g)].map((m) => m[1]);

  it('--backend native: its ranks as sessions of the C library in one process, the CPU backend’s losses', () => {
    const cpu = flexc(['--plan', 'gpt_3d', '--backend', 'cpu', '--steps', '3']);
    const native = flexc(['--plan', 'gpt_3d', '--backend', 'native', '--steps', '3']);
    expect(native.status, native.stderr).toBe(0);
    expect(native.stderr).toMatch(/native \(C kernels, OpenMP; 8 ranks: tensor 2 × data 2 × pipeline 2, simulated\)/);
    expect(losses(native.stdout)).toEqual(losses(cpu.stdout));
    expect(losses(native.stdout)).toHaveLength(3);
  }, 120_000);

  it('flexc build of a partitioned plan: FLX7011, pointing at flexc run', () => {
    const out = mkdtempSync(join(tmpdir(), 'flexc-ranks-'));
    try {
      const r = spawnSync(process.execPath, ['bin/flexc.mjs', 'build', FILE, '--plan', 'gpt_3d', '-o', out], {
        encoding: 'utf8',
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/error\[FLX7011\]: the plan is one of 2 tensor-parallel ranks/);
      expect(r.stderr).toMatch(/hint: `flexc run` runs its ranks/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('--backend cuda outside a launcher, or in a world of the wrong size: FLX7012 with the way to launch it', () => {
    const alone = flexc(['--plan', 'gpt_3d', '--backend', 'cuda']);
    expect(alone.status).toBe(1);
    expect(alone.stderr).toMatch(/error\[FLX7012\]: a partitioned plan on CUDA runs one process per GPU/);
    expect(alone.stderr).toMatch(/hint: launch 8 with torchrun/);
    const four = flexc(['--plan', 'gpt_3d', '--backend', 'cuda'], { WORLD_SIZE: '4', RANK: '0' });
    expect(four.stderr).toMatch(/needs WORLD_SIZE 8, not 4/);
    for (const r of [alone, four]) expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 120_000);
});
