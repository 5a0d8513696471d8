// Placement's decisions, measured: the same training step at three GPU budgets under four policies — auto (keep,
// recompute or move each activation), recompute-only, every activation in host memory, every activation on the SSD —
// with roomy host and SSD budgets, then with tight ones (2 MiB each: neither host-all nor ssd-all fits, and at 4.5 MiB
// recompute-only does not either) —
// run on WebGPU (SwiftShader here) in one run, against the step time the planner predicts with this machine's
// hardware as `flexc hw probe` measures it (same run). Prints, per budget and policy: predicted and measured ms per
// step, GPU/host/SSD peaks measured, bytes per link; then auto against the best fixed policy, the predicted and
// measured rankings, and the prediction's error. The step without a budget runs beside them: no placement beats it,
// so the best fixed policy over it is the most auto could gain. Each policy's steps are interleaved with the others'.
import './fail-plainly.ts';
import { probeHardware } from './probe.ts';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from '../compiler/cli/probe.ts';
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
import type { Session } from '../runtime/session.ts';
import { openGpu } from '../runtime/webgpu/device.ts';

const STEPS = Number(process.env['BENCH_STEPS'] ?? 5);
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
        { gpu: [6, 5.5, 4.5], host: 2, ssd: 2 },
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
/** The step without a budget, run beside them: no policy can beat it, so it bounds what auto can gain. */
const FREE = 'no budget';

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
  `offload-mlp (8.5 MiB without a budget) on ${gpu.adapter}, median of ${STEPS} steps after one; hardware as probed: ` +
    `fp32 ${(machine.gpu.peak.f32! / 1e9).toFixed(2)} GFLOP/s, ` +
    `link ${((machine.link?.bandwidth ?? 0) / 1e9).toFixed(2)} GB/s, ` +
    `SSD write ${((machine.ssd?.write ?? 0) / 1e9).toFixed(2)} GB/s`,
);
let agree = 0;
let pairs = 0;
/** Predicted step times closer than this (relative) are a tie: runs here vary by about as much. */
const SEPARATED = 0.05;
let worst = 0;
/** The widest range of one policy's step times over its median: how much runs of one plan vary here. */
let spread = 0;
for (const regime of REGIMES)
  for (const b of regime.gpu) {
    const [HOST, SSD] = [regime.host * MiB, regime.ssd * MiB];
    if (b === regime.gpu[0]) console.log(`host memory ${regime.host} MiB, SSD ${regime.ssd} MiB:`);
    const runs: { row: Row; s: Session; times: number[] }[] = [];
    for (const [policy, over] of [...POLICIES, [FREE, {}] as const]) {
      const memory = policy === FREE ? {} : { gpu: b * MiB, host: HOST, ssd: SSD };
      const config = { ...low.config, ...over, memory } as PlanConfig;
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
      runs.push({ row: { policy, predicted, measured: 0, gpu: 0, host: 0, ssd: 0, moved: 0 }, s, times: [] });
    }
    // the policies' steps interleaved, so that the machine's drift (shared, 2 cores) falls on all of them alike
    for (let k = 0; k < STEPS; k++)
      for (const r of runs) {
        const t0 = performance.now();
        await r.s.run(['loss']);
        r.times.push((performance.now() - t0) / 1000);
      }
    const rows: Row[] = [];
    let free: Row | undefined;
    for (const { row, s, times } of runs) {
      const t = s.tiers;
      Object.assign(row, {
        measured: median(times),
        gpu: s.measuredPeakBytes,
        host: t?.peakBytes.host ?? 0,
        ssd: t?.peakBytes.ssd ?? 0,
        moved: t ? t.moved['gpu→host'] / (STEPS + 1) : 0,
      });
      s.destroy();
      if (row.policy === FREE) free = row;
      else rows.push(row);
      spread = Math.max(spread, (Math.max(...times) - Math.min(...times)) / row.measured);
      console.log(
        `  ${b} MiB  ${row.policy.padEnd(15)} predicted ${(row.predicted * 1e3).toFixed(1).padStart(8)} ms  measured ` +
          `${(row.measured * 1e3).toFixed(1).padStart(8)} ms  peaks gpu ${fmt(row.gpu)} host ${fmt(row.host)} ssd ` +
          `${fmt(row.ssd)} MiB  gpu→host ${fmt(row.moved)} MiB/step`,
      );
      worst = Math.max(worst, Math.abs(row.predicted - row.measured) / row.measured);
    }
    const auto = rows.find((x) => x.policy === 'auto');
    const fixed = rows.filter((x) => x.policy !== 'auto');
    const best = fixed.sort((x, y) => x.measured - y.measured)[0];
    if (auto && best)
      console.log(
        `  ${b} MiB  ratio best fixed (${best.policy}) / auto, measured: ${(best.measured / auto.measured).toFixed(2)}`,
      );
    else if (auto) console.log(`  ${b} MiB  no fixed policy fits: auto alone trains`);
    if (best && free)
      console.log(
        `  ${b} MiB  the most any placement could gain on the best fixed policy (it / no budget): predicted ` +
          `${(best.predicted / free.predicted).toFixed(2)}, measured ${(best.measured / free.measured).toFixed(2)}`,
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
    `${agree}; prediction error at most ${(100 * worst).toFixed(0)}%; one plan's steps vary by up to ` +
    `${(100 * spread).toFixed(0)}% of their median`,
);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
