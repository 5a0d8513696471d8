import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { buildPlan } from '../../compiler/codegen/plan.ts';
import { cpuTrainer, webgpuTrainer } from '../../compiler/cli/trainers.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule } from '../../compiler/interp/interpret.ts';
import {
  dataIndex,
  pipeIndex,
  type RankLayout,
  shardParams,
  sliceOf,
  shardIndex,
  shardSlice,
} from '../../compiler/interp/ranks.ts';
import { CpuSession } from '../../compiler/interp/session.ts';
import { SimulatedRanks } from '../../compiler/interp/simulated-ranks.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { stagesOf } from '../../compiler/ir/stages.ts';
import { shardOf } from '../../compiler/passes/partition-tensor.ts';
import { relErr } from '../helpers/oracle.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { withAccumulators } from './check.ts';

afterAll(async () => (await sharedGpu()).device.destroy());

const FILE = 'test/partition/models.flex';

/**
 * The partitioned programs' kernels on WebGPU (SwiftShader here): every rank a session of its own on one device,
 * running its stage's kernels, the plan's exchanges between them (compiler/interp/simulated-ranks.ts). Against one
 * device on the CPU reference over the whole batch: the loss of every step and each rank's parameters after the last,
 * within 1e-4 — what every WebGPU test allows its kernels against the CPU reference (test/runtime).
 */
describe('partitioned programs on simulated WebGPU devices = one device', () => {
  for (const [plan, onePlan, layout] of [
    // eight devices, two micro-batches of one example a replica, with and without sequence parallelism
    ['gpt_3d', 'gpt_b4', { tensor: 2, pipeline: 2, data: 2 }],
    ['gpt_3d_sp', 'gpt_b4', { tensor: 2, pipeline: 2, data: 2 }],
    ['mlp_3d', 'mlp_b4', { tensor: 2, pipeline: 2, data: 2 }],
    // and a mixture of experts, its experts split over the two replicas
    ['moe_3d', 'moe_b4', { tensor: 2, pipeline: 2, data: 2, expert: 2 }],
  ] as [string, string, RankLayout][])
    it(`${plan}: ${Object.entries(layout)
      .map(([k, n]) => `${k} ${n}`)
      .join(' × ')}, three steps`, async () => {
      const one = compile(FILE, onePlan);
      const par = compile(FILE, plan);
      const m = one.module!;
      const r = par.module!;
      const gpu = await sharedGpu();
      const built = buildPlan(
        r,
        par.lowered!.config,
        {},
        {
          deviceClass: 'cpu',
          ranks: { dataParallel: (layout.data ?? 1) > 1 },
        },
      );
      expect(built.plan.steps.some((st) => st.kind === 'collective')).toBe(true);
      const session = new CpuSession(m, { seed: 0, graphs: graphResolver(one.program) });
      const whole = withAccumulators(r, session.params);
      const ranks = await SimulatedRanks.webgpu(gpu, built, layout, (k) => shardParams(r, whole, layout, k));
      const st = stagesOf(r);
      const P = layout.pipeline ?? 1;
      const D = layout.data ?? 1;
      const first = r.values.find((v) => v.op === 'input' && v.type.shape.length > 0)!;
      const micro = first.type.shape[0] as number;
      const batch = m.values.find((v) => v.op === 'input' && v.attrs['name'] === first.attrs['name'])!.type
        .shape[0] as number;
      const runs = batch / (micro * D); // micro-batches a step on each replica
      for (let step = 1; step <= 3; step++) {
        const feeds = session.feeds(m, step);
        const want = runModule(m, feeds, whole, { step }).outputs.get('loss')!.data[0]!;
        let loss = 0;
        for (let j = 0; j < runs; j++) {
          const got = await ranks.run((k) => {
            // replica d's micro-batch j: rows (d · runs + j) · micro … of the whole batch
            const part = dataIndex(layout, k) * runs + j;
            const rows = (x: NDArray) => (x.shape.length ? sliceOf(x, 0, batch / micro, part) : x);
            return new Map([...feeds].map(([name, x]) => [name, rows(x).data as Float32Array | Int32Array]));
          });
          const losses = got.filter((_, k) => pipeIndex(layout, k) === P - 1).map((o) => o.get('loss')![0]!);
          loss += losses.reduce((a, x) => a + x, 0) / losses.length / runs;
        }
        expect(Math.abs(loss - want) / Math.abs(want), `step ${step} loss`).toBeLessThan(1e-4);
      }
      for (const [k, s] of ranks.sessions.entries()) {
        const held = await s.parameters();
        for (const v of r.values) {
          if (v.op !== 'param') continue;
          if (st && st.stage.get(v)! % P !== pipeIndex(layout, k)) continue;
          const name = String(v.attrs['name']);
          const sh = shardOf(v);
          const w = whole.get(name)!;
          const expected = sh ? shardSlice(w, sh, shardIndex(layout, k, sh.group)) : w;
          expect(relErr(held.get(name)!, expected.data), `rank ${k} ${name}`).toBeLessThan(1e-4);
        }
      }
    }, 300_000);
});

describe('flexc run --backend webgpu on a partitioned plan', () => {
  it('gpt_3d: eight simulated WebGPU ranks print the CPU backend’s losses', async () => {
    const r = compile(FILE, 'gpt_3d');
    const graphs = graphResolver(r.program);
    const cpu = cpuTrainer(r.module!, r.lowered!.config, graphs);
    const gpu = await webgpuTrainer(r.module!, r.lowered!.config, graphs, { deviceClass: 'cpu' });
    expect(gpu.backend).toMatch(/8 ranks: tensor 2 × data 2 × pipeline 2, simulated/);
    for (let step = 1; step <= 4; step++) {
      const [a, b] = [await cpu.step('loss'), await gpu.step('loss')];
      expect(Math.abs(b - a) / Math.abs(a), `step ${step}`).toBeLessThan(1e-4);
    }
    gpu.close();
  }, 120_000);
});
