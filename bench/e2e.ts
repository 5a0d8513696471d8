// End-to-end benchmark: GCN on Cora with the published recipe, epochs per second on WebGPU
// (Dawn; SwiftShader on a machine without a GPU) with the kernels chosen for this device's class and
// with the other class's, next to the CPU reference interpreter, in one run.
import './fail-plainly.ts';
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

const chosen = await webgpuTrainer(r.module, r.lowered.config, graphs);
const cls = chosen.session.plan.deviceClass;
const rows: [string, { eps: number; loss: number }][] = [];
rows.push([`${chosen.backend} (chosen)`, await measure(chosen)]);
const other = await webgpuTrainer(r.module, r.lowered.config, graphs, { deviceClass: cls === 'gpu' ? 'cpu' : 'gpu' });
rows.push([other.backend, await measure(other)]);
rows.push(['cpu reference interpreter', await measure(cpuTrainer(r.module, r.lowered.config, graphs))]);
console.log(`GCN on Cora (2708 nodes, 1433 features, hidden 16), ${EPOCHS} training epochs after one warm-up`);
for (const [name, m] of rows)
  console.log(`  ${name.padEnd(84)} ${m.eps.toFixed(2).padStart(7)} epochs/s  (loss ${m.loss.toFixed(4)})`);
console.log(`  ratio webgpu (chosen kernels)/cpu reference: ${(rows[0]![1].eps / rows[2]![1].eps).toFixed(2)}`);
console.log(`  ratio chosen/other kernel class: ${(rows[0]![1].eps / rows[1]![1].eps).toFixed(2)}`);
process.exit(0);
