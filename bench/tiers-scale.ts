// Placement at scale: examples/gcn-1m.flex — a two-layer GCN on a generated graph of 1,000,000 nodes and 10,000,000
// edges with 128 features — trained on WebGPU (SwiftShader here) within 1/8 of its step's GPU memory and less host
// memory than its activations, so the SSD tier is used. Prints the plan's time, its bytes per tier (planned and
// measured), the bytes per link per epoch (planned and measured), each epoch's time and loss, the step time
// predicted with this machine as `flexc hw probe` measures it (same run), and what the compiler says of a budget no
// plan meets. BENCH_EPOCHS epochs (default 2) after one that warms up.
import './fail-plainly.ts';
import { probeHardware } from './probe.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { graphResolver } from '../compiler/cli/run.ts';
import { webgpuSession } from '../compiler/cli/trainers.ts';
import { buildPlan } from '../compiler/codegen/plan.ts';
import { planMemory } from '../compiler/codegen/memory.ts';
import { compile } from '../compiler/compile.ts';
import { deadCodeEliminate } from '../compiler/ir/graph.ts';
import { machineOf } from '../compiler/cost/device.ts';
import { estimateStep } from '../compiler/cost/step.ts';
import { BudgetInfeasibleError } from '../compiler/passes/checkpoint.ts';
import { runPipeline } from '../compiler/passes/pipeline.ts';
import { copyModule } from '../compiler/plan-pipeline.ts';
import type { PlanConfig } from '../compiler/sema/plan.ts';
import { LINKS, plannedMoves } from '../runtime/tiers.ts';
import { openGpu } from '../runtime/webgpu/device.ts';

const EPOCHS = Number(process.env['BENCH_EPOCHS'] ?? 2);
const MiB = 2 ** 20;
const fmt = (x: number) => `${(x / MiB).toFixed(1)} MiB`;

const dir = mkdtempSync(join(tmpdir(), 'flexc-bench-scale-'));
probeHardware(dir);
// the example on this machine as probed (its graph stays in the cache: the example's own folder is not needed)
const example = resolve('examples/gcn-1m.flex');
const source = join(dir, 'model.flex');
const text = readFileSync(example, 'utf8')
  .replace('import { GcnConv }', 'import { Probed } from "./probed.flex"\nimport { GcnConv }')
  .replace('plan streamed {', 'plan streamed {\n  on: Probed');
writeFileSync(source, text);

let t0 = performance.now();
const whole = compile(source, 'whole');
if (!whole.lowered) throw new Error(whole.diagnostics.map((d) => d.message).join('\n'));
const graphs = graphResolver(whole.program);
// its arena (the whole step binds tensors larger than WebGPU allows: it cannot run here at all)
const footprint = planMemory(deadCodeEliminate(whole.module!)).arenaBytes;
const wholeSeconds = ((performance.now() - t0) / 1e3).toFixed(1);
console.log(`graph generated or read from the cache, step compiled whole: ${wholeSeconds} s`);

t0 = performance.now();
const r = compile(source, 'streamed');
if (!r.lowered || !r.module) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
const config = r.lowered.config;
const machine = machineOf(r.lowered.hardware!)!;
const { plan } = buildPlan(r.module, config, {});
console.log(
  `plan streamed (blocks: ${config.blocks}): ${((performance.now() - t0) / 1e3).toFixed(1)} s to plan; GPU budget ` +
    `${fmt(config.memory.gpu!)} = 1/${(footprint / config.memory.gpu!).toFixed(2)} of the whole step's ` +
    `${fmt(footprint)}; host budget ${fmt(config.memory.host!)}`,
);
console.log(
  `  planned: GPU ${fmt(plan.arenas.gpu)}, host ${fmt(plan.arenas.host ?? 0)}, SSD ${fmt(plan.arenas.ssd ?? 0)}`,
);
const planned = plannedMoves(plan);
console.log(`  planned per epoch: ${LINKS.map((l) => `${l} ${fmt(planned[l])}`).join(', ')}`);
const predicted = estimateStep(r.module, config, machine).step_seconds;

const gpu = await openGpu();
const s = await webgpuSession(gpu, r.module, config, graphs);
const times: number[] = [];
for (let e = 0; e <= EPOCHS; e++) {
  const t = performance.now();
  const out = await s.run(['loss']);
  const seconds = (performance.now() - t) / 1e3;
  if (e > 0) times.push(seconds);
  console.log(`  epoch ${e}${e ? '' : ' (warm-up)'}: ${seconds.toFixed(1)} s, loss ${out.get('loss')![0]!.toFixed(5)}`);
}
const t = s.tiers!;
const perEpoch = (b: number) => b / (EPOCHS + 1);
console.log(
  `  measured: GPU peak ${fmt(s.measuredPeakBytes)}, host peak ${fmt(t.peakBytes.host)}, SSD peak ` +
    `${fmt(t.peakBytes.ssd)}; per epoch ${LINKS.map((l) => `${l} ${fmt(perEpoch(t.moved[l]))}`).join(', ')}`,
);
const measured = times.reduce((a, b) => a + b, 0) / times.length;
console.log(
  `  epoch time on ${gpu.adapter}: measured ${measured.toFixed(1)} s, predicted ${predicted.toFixed(1)} s with the ` +
    `probed hardware (error ${((100 * Math.abs(predicted - measured)) / measured).toFixed(0)}%)`,
);
s.destroy();

// a GPU budget no plan meets: the compiler names the smallest that works
const tight = { ...config, memory: { ...config.memory, gpu: 8 * MiB } } as PlanConfig;
try {
  runPipeline(copyModule(r.lowered.forward), { config: tight, machine, graphs });
  console.log('  8 MiB of GPU: fits (unexpected)');
} catch (e) {
  if (!(e instanceof BudgetInfeasibleError)) throw e;
  console.log(`  8 MiB of GPU: does not fit; the smallest that works is ${fmt(e.smallest)}`);
}
rmSync(dir, { recursive: true, force: true });
process.exit(0);
