// The fused MoE kernel against the same layer as a chain of ops, in one run on this machine: an MoE layer (d 512,
// hidden 2048, GeLU experts, capacity factor 1.25, no balance loss) at T ∈ {128, 1024, 8192} tokens, E ∈ {8, 64}
// experts, top-k ∈ {1, 2}; its forward pass (an inference plan) natively (C) and on WebGPU (SwiftShader here,
// cpu-class kernels), fused (`fuse: [moe]`: one launch) and unfused (the decomposition: ~20 launches). Prints the
// median latency of BENCH_STEPS (3) steps after a warm-up, the launches, and unfused / fused. With BENCH_MOE_TRAIN=1,
// training steps (forward and backward, SGD) too, at T ≤ 1024.
// WebGPU runs T ≤ 1024 unless BENCH_MOE_WEBGPU_ALL=1: at 8192 tokens a step takes minutes on SwiftShader (0.7 GFLOP/s
// for ~70 GFLOP), and the unfused hidden rows ([E·C, 2048], 168 MB at top-2) pass the device's binding limit.
import './fail-plainly.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { graphResolver } from '../compiler/cli/run.ts';
import { nativeSession, webgpuSession } from '../compiler/cli/trainers.ts';
import { compile } from '../compiler/compile.ts';
import { blasFlags } from '../compiler/targets/c.ts';
import { TARGETS } from '../compiler/targets/registry.ts';
import type { Session } from '../runtime/session.ts';
import { timeSteps } from './time-steps.ts';
import { openGpu } from '../runtime/webgpu/device.ts';
import { moeCaseName, moeLayerSource } from './moe-layer.ts';

const STEPS = Number(process.env['BENCH_STEPS'] ?? 3);
const TRAIN = process.env['BENCH_MOE_TRAIN'] === '1';
const WEBGPU_ALL = process.env['BENCH_MOE_WEBGPU_ALL'] === '1';
const TOKENS = (process.env['BENCH_MOE_TOKENS'] ?? '128,1024,8192').split(',').map(Number);
const CONFIGS = [8, 64].flatMap((experts) => [1, 2].map((k) => ({ experts, k })));

const dir = mkdtempSync(join(tmpdir(), 'flexc-bench-moe-'));
const source = join(dir, 'moe.flex');
const tasks = (t: number) => (TRAIN && t <= 1024 ? (['infer', 'train'] as const) : (['infer'] as const));
const cases = TOKENS.flatMap((t) =>
  CONFIGS.flatMap(({ experts: e, k }) =>
    tasks(t).flatMap((task) => [false, true].map((fused) => ({ t, e, k, fused, task }))),
  ),
);
writeFileSync(source, moeLayerSource(cases));

const time = (s: Session) => timeSteps(s, STEPS);

const gpu = await openGpu();
const rows: string[] = [];
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toPrecision(3));
for (const backend of ['native', 'webgpu'] as const)
  for (const t of TOKENS) {
    if (backend === 'webgpu' && t > 1024 && !WEBGPU_ALL) {
      rows.push(`${backend.padEnd(7)} T ${String(t).padStart(5)}: not run (BENCH_MOE_WEBGPU_ALL=1; see the header)`);
      continue;
    }
    for (const { experts, k } of CONFIGS)
      for (const task of tasks(t)) {
        const got: { ms: number; launches: number }[] = [];
        for (const fused of [false, true]) {
          const r = compile(source, moeCaseName({ t, e: experts, k, fused, task }));
          if (!r.module || !r.lowered) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
          const graphs = graphResolver(r.program);
          const s =
            backend === 'native'
              ? nativeSession(TARGETS.c, r.module, r.lowered.config, graphs)
              : await webgpuSession(gpu, r.module, r.lowered.config, graphs, { deviceClass: 'cpu' });
          got.push(await time(s));
        }
        const [ops, fused] = got as [{ ms: number; launches: number }, { ms: number; launches: number }];
        const row =
          `${backend.padEnd(7)} ${task.padEnd(5)} T ${String(t).padStart(5)} E ${String(experts).padStart(2)} ` +
          `k ${k}: ops ${fmt(ops.ms).padStart(7)} ms (${ops.launches} launches)  fused ${fmt(fused.ms).padStart(7)} ` +
          `ms (${fused.launches})  ops/fused ${(ops.ms / fused.ms).toFixed(2)}`;
        rows.push(row);
        console.log(row);
      }
  }
console.log(
  `\nMoE layer d 512, hidden 2048, capacity factor 1.25; median of ${STEPS} steps after a warm-up; native C with ` +
    `OpenMP${blasFlags().length ? ' (the ops’ products through the BLAS)' : ''}, WebGPU on ${gpu.adapter}`,
);
for (const row of rows) console.log(`  ${row}`);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
