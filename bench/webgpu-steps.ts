// Training steps per second on WebGPU (SwiftShader here) with the cpu-class kernels, for plans whose IR the kernel
// IR did not change: what bench/wgsl-before-after.sh runs against an older flexc and this one.
// Prints `<file> <plan> <steps/s>` lines. BENCH_STEPS (20) sets the steps after one warm-up step.
import './fail-plainly.ts';
import { graphResolver } from '../compiler/cli/run.ts';
import { webgpuTrainer } from '../compiler/cli/trainers.ts';
import { compile } from '../compiler/compile.ts';

const STEPS = Number(process.env['BENCH_STEPS'] ?? 20);
for (const [file, plan] of [
  ['examples/mlp.flex', 'small'],
  ['examples/gpt.flex', 'tiny'],
  ['examples/gpt.flex', 'shakespeare'],
] as const) {
  const r = compile(file, plan);
  if (!r.module || !r.lowered) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  const t = await webgpuTrainer(r.module, r.lowered.config, graphResolver(r.program), { deviceClass: 'cpu' });
  const loss = r.lowered.config.task.kind === 'train' ? r.lowered.config.task.loss : undefined;
  await t.step(loss);
  const t0 = performance.now();
  for (let s = 0; s < STEPS; s++) await t.step(loss);
  console.log(`${file} ${plan} ${(STEPS / ((performance.now() - t0) / 1000)).toFixed(2)}`);
  t.close();
}
process.exit(0);
