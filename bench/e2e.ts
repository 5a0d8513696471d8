// End-to-end benchmark: GCN on Cora with the published recipe, epochs per second on WebGPU
// (Dawn; SwiftShader on a machine without a GPU) next to the CPU reference interpreter, in one run.
import { graphResolver } from '../compiler/cli/run.ts';
import { cpuTrainer, webgpuTrainer, type Trainer } from '../compiler/cli/trainers.ts';
import { compile } from '../compiler/compile.ts';

const EPOCHS = Number(process.env['BENCH_EPOCHS'] ?? 30);
const r = compile('examples/gcn-cora.flex');
if (!r.module || !r.lowered) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
const graphs = graphResolver(r.program);

async function measure(t: Trainer): Promise<{ eps: number; loss: number }> {
  await t.step('loss'); // warm-up: compilation, uploads
  const t0 = performance.now();
  let loss = NaN;
  for (let e = 0; e < EPOCHS; e++) loss = await t.step('loss');
  const eps = EPOCHS / ((performance.now() - t0) / 1000);
  t.close();
  return { eps, loss };
}

const gpuTrainer = await webgpuTrainer(r.module, r.lowered.config, graphs);
const backend = gpuTrainer.backend;
const gpu = await measure(gpuTrainer);
const cpu = await measure(cpuTrainer(r.module, r.lowered.config, graphs));
console.log(`GCN on Cora (2708 nodes, 1433 features, hidden 16), ${EPOCHS} training epochs after one warm-up`);
console.log(`  ${backend.padEnd(52)} ${gpu.eps.toFixed(2).padStart(7)} epochs/s  (loss ${gpu.loss.toFixed(4)})`);
console.log(`  ${'cpu reference interpreter'.padEnd(52)} ${cpu.eps.toFixed(2).padStart(7)} epochs/s  (loss ${cpu.loss.toFixed(4)})`);
console.log(`  ratio webgpu/cpu: ${(gpu.eps / cpu.eps).toFixed(2)}`);
process.exit(0);
