// Placement's decisions, measured: the same training step at three GPU budgets under four policies — auto (keep,
// recompute or move each activation), recompute-only, every activation in host memory, every activation on the SSD —
// with roomy host and SSD budgets, then with tight ones (2 MiB each, where no fixed placement fits) —
// run on WebGPU (SwiftShader here) in one run, against the step time the planner predicts with this machine's
// hardware as `flexc hw probe` measures it (same run). Prints, per budget and policy: predicted and measured ms per
// step, GPU/host/SSD peaks measured, bytes per link; then auto against the best fixed policy, the predicted and
// measured rankings, and the prediction's error.
import './fail-plainly.ts';
import { probeHardware } from './probe.ts';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { graphResolver } from '../compiler/cli/run.ts';
import { webgpuSession } from '../compiler/cli/trainers.ts';
import { compile } from '../compiler/compile.ts';
import { machineOf } from '../compiler/cost/device.ts';
import { estimateStep } from '../compiler/cost/step.ts';
import { BudgetInfeasibleError, TierBudgetError } from '../compiler/passes/checkpoint.ts';
import { runPipeline } from '../compiler/passes/pipeline.ts';
import { copyModule } from '../compiler/plan-pipeline.ts';
import type { PlanConfig } from '../compiler/sema/plan.ts';
import type { Module } from '../compiler/ir/graph.ts';
import { openGpu } from '../runtime/webgpu/device.ts';

const STEPS = Number(process.env['BENCH_STEPS'] ?? 3);
const MiB = 2 ** 20;
const env = (k: string) => process.env[k];
/**
 * GPU budgets (MiB) with host and SSD budgets: roomy tiers, where every activation fits in host memory or on the SSD,
 * and tight ones, where neither holds them all (BENCH_BUDGETS, BENCH_HOST_MIB, BENCH_SSD_MIB: one regime of one's own).
 */
const REGIMES: { gpu: number[]; host: number; ssd: number }[] =
  env('BENCH_BUDGETS') || env('BENCH_HOST_MIB') || env('BENCH_SSD_MIB')
    ? [
        {
          gpu: (env('BENCH_BUDGETS') ?? '7,6,5.5').split(',').map(Number),
          host: Number(env('BENCH_HOST_MIB') ?? 1024),
          ssd: Number(env('BENCH_SSD_MIB') ?? 4096),
        },
      ]
    : [
        { gpu: [7, 6, 5.5], host: 1024, ssd: 4096 },
        { gpu: [6, 5.5, 5], host: 2, ssd: 2 },
      ];

const dir = mkdtempSync(join(tmpdir(), 'flexc-bench-tiers-'));
probeHardware(dir);
copyFileSync('examples/offload-mlp.flex', join(dir, 'model.flex'));
const source = join(dir, 'model.flex');
// the example's model on this machine as probed
const text = (await import('node:fs')).readFileSync(source, 'utf8').replace(/on: Slow/g, 'on: Probed');
writeFileSync(source, `import { Probed } from "./probed.flex"\n${text}`);
const r = compile(source, 'unconstrained');
if (!r.lowered) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
const low = r.lowered;
const machine = machineOf(low.hardware!)!;
const graphs = graphResolver(r.program);
const gpu = await openGpu();

const POLICIES: [string, Partial<PlanConfig>][] = [
  ['auto', { placement: 'auto', checkpoint: 'auto' }],
  ['recompute-only', { placement: 'gpu', checkpoint: 'auto' }],
  ['host-all', { placement: 'host', checkpoint: 'none' }],
  ['ssd-all', { placement: 'ssd', checkpoint: 'none' }],
];

type Row = {
  policy: string;
  predicted: number;
  measured: number;
  gpu: number;
  host: number;
  ssd: number;
  moved: number;
};
const fmt = (x: number) => (x / MiB).toFixed(2);
console.log(
  `offload-mlp (8.5 MiB without a budget) on ${gpu.adapter}, ${STEPS} steps after one; hardware as probed: ` +
    `fp32 ${(machine.gpu.peak.f32! / 1e9).toFixed(2)} GFLOP/s, ` +
    `link ${((machine.link?.bandwidth ?? 0) / 1e9).toFixed(2)} GB/s, ` +
    `SSD write ${((machine.ssd?.write ?? 0) / 1e9).toFixed(2)} GB/s`,
);
let agree = 0;
let pairs = 0;
/** Predicted step times closer than this (relative) are a tie: runs here vary by about as much. */
const SEPARATED = 0.05;
let worst = 0;
for (const regime of REGIMES)
  for (const b of regime.gpu) {
    const [HOST, SSD] = [regime.host * MiB, regime.ssd * MiB];
    if (b === regime.gpu[0]) console.log(`host memory ${regime.host} MiB, SSD ${regime.ssd} MiB:`);
    const rows: Row[] = [];
    for (const [policy, over] of POLICIES) {
      const config = { ...low.config, ...over, memory: { gpu: b * MiB, host: HOST, ssd: SSD } } as PlanConfig;
      let m: Module;
      try {
        m = runPipeline(copyModule(low.forward), { config, machine });
      } catch (e) {
        if (e instanceof BudgetInfeasibleError || e instanceof TierBudgetError) {
          console.log(`  ${b} MiB  ${policy.padEnd(15)} does not fit`);
          continue;
        }
        throw e;
      }
      const predicted = estimateStep(m, config, machine).step_seconds;
      const s = await webgpuSession(gpu, m, config, graphs);
      await s.run(['loss']);
      const t0 = performance.now();
      for (let k = 0; k < STEPS; k++) await s.run(['loss']);
      const measured = (performance.now() - t0) / 1000 / STEPS;
      const t = s.tiers;
      const moved = t ? t.moved['gpu→host'] / (STEPS + 1) : 0;
      rows.push({
        policy,
        predicted,
        measured,
        gpu: s.measuredPeakBytes,
        host: t?.peakBytes.host ?? 0,
        ssd: t?.peakBytes.ssd ?? 0,
        moved,
      });
      s.destroy();
      const row = rows.at(-1)!;
      console.log(
        `  ${b} MiB  ${policy.padEnd(15)} predicted ${(predicted * 1e3).toFixed(1).padStart(8)} ms  measured ` +
          `${(measured * 1e3).toFixed(1).padStart(8)} ms  peaks gpu ${fmt(row.gpu)} host ${fmt(row.host)} ssd ` +
          `${fmt(row.ssd)} MiB  gpu→host ${fmt(moved)} MiB/step`,
      );
      worst = Math.max(worst, Math.abs(predicted - measured) / measured);
    }
    const auto = rows.find((x) => x.policy === 'auto');
    const fixed = rows.filter((x) => x.policy !== 'auto');
    const best = fixed.sort((x, y) => x.measured - y.measured)[0];
    if (auto && best)
      console.log(
        `  ${b} MiB  ratio best fixed (${best.policy}) / auto, measured: ${(best.measured / auto.measured).toFixed(2)}`,
      );
    const order = (k: 'predicted' | 'measured') => [...rows].sort((x, y) => x[k] - y[k]).map((x) => x.policy);
    console.log(
      `  ${b} MiB  ranking predicted: ${order('predicted').join(' < ')}; measured: ${order('measured').join(' < ')}`,
    );
    // the ranking is claimed only where the model separates two policies by more than the runs' noise
    for (const x of rows)
      for (const y of rows)
        if (x.predicted < y.predicted * (1 - SEPARATED)) pairs++, (agree += x.measured < y.measured ? 1 : 0);
  }
console.log(
  `pairs of policies the model separates by more than ${100 * SEPARATED}%: ${pairs}, measured in the same order: ` +
    `${agree}; prediction error at most ${(100 * worst).toFixed(0)}%`,
);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
