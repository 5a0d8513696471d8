// Targets side by side, in one run on this machine: GCN on Cora (Kipf & Welling's recipe, 200
// epochs) natively (C), on WebGPU (SwiftShader here, cpu-class kernels) and on the CPU reference
// interpreter, next to the same recipe in numpy written the way Kipf's code does it
// (bench/gcn_kipf_numpy.py); then fp32 matmul GFLOP/s at 512³ and 1024³ for native (the generated C, and the BLAS
// path where a BLAS is installed), WebGPU and numpy.
// BENCH_EPOCHS (200) sets the epochs; BENCH_SLOW_EPOCHS (200) those of WebGPU and the interpreter.
import './fail-plainly.ts';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { graphResolver } from '../compiler/cli/run.ts';
import { cpuTrainer, nativeSession, nativeTrainer, webgpuSession, webgpuTrainer } from '../compiler/cli/trainers.ts';
import type { Trainer } from '../compiler/cli/trainers.ts';
import { compile } from '../compiler/compile.ts';
import type { Module } from '../compiler/ir/graph.ts';
import { blasFlags } from '../compiler/targets/c.ts';
import { TARGETS } from '../compiler/targets/registry.ts';
import { openGpu } from '../runtime/webgpu/device.ts';
import type { Session } from '../runtime/session.ts';
import { planConfigOf } from '../compiler/sema/plan.ts';
import { matmulFlops, matmulModule } from '../compiler/cli/probe.ts';

const EPOCHS = Number(process.env['BENCH_EPOCHS'] ?? 200);
const SLOW = Number(process.env['BENCH_SLOW_EPOCHS'] ?? 200);
const SIZES = [512, 1024];
const DATA = resolve('../shared/data/cora');

const r = compile('examples/gcn-cora.flex');
if (!r.module || !r.lowered) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
const graphs = graphResolver(r.program);
const config = r.lowered.config;

async function gcn(t: Trainer, epochs: number): Promise<{ eps: number; loss: number }> {
  await t.step('loss'); // warm-up: compilation, uploads
  const t0 = performance.now();
  let loss = NaN;
  for (let e = 1; e < epochs; e++) loss = await t.step('loss');
  const eps = (epochs - 1) / ((performance.now() - t0) / 1000);
  t.close();
  return { eps, loss };
}

const numpy = spawnSync('python3', ['bench/gcn_kipf_numpy.py', DATA, String(EPOCHS), ...SIZES.map(String)], {
  encoding: 'utf8',
});
const np =
  numpy.status === 0
    ? (JSON.parse(numpy.stdout) as {
        epochs_per_second: number;
        loss: number;
        test_accuracy: number;
        matmul_gflops: Record<string, number>;
      })
    : undefined;

const rows: [string, { eps: number; loss: number }][] = [];
rows.push([
  `native (C, OpenMP${blasFlags().length ? ', BLAS for large matmuls' : ''}), ${EPOCHS} epochs`,
  await gcn(await nativeTrainer(TARGETS.c, r.module, config, graphs), EPOCHS),
]);
rows.push([
  `webgpu (cpu-class kernels), ${SLOW} epochs`,
  await gcn(await webgpuTrainer(r.module, config, graphs, { deviceClass: 'cpu' }), SLOW),
]);
rows.push([`cpu reference interpreter, ${SLOW} epochs`, await gcn(cpuTrainer(r.module, config, graphs), SLOW)]);

console.log('GCN on Cora (2708 nodes, 1433 sparse features, hidden 16), epochs/s after one warm-up epoch');
for (const [name, m] of rows)
  console.log(`  ${name.padEnd(52)} ${m.eps.toFixed(1).padStart(8)} epochs/s  (loss ${m.loss.toFixed(4)})`);
if (np)
  console.log(
    `  ${`numpy, Kipf's recipe (bench/gcn_kipf_numpy.py), ${EPOCHS} epochs`.padEnd(52)} ` +
      `${np.epochs_per_second.toFixed(1).padStart(8)} epochs/s  (loss ${np.loss.toFixed(4)}, test accuracy ` +
      `${np.test_accuracy.toFixed(3)})`,
  );
else console.log(`  numpy: not run (${(numpy.stderr || String(numpy.error)).trim().split('\n').at(-1)})`);
if (np) console.log(`  ratio native/numpy: ${(rows[0]![1].eps / np.epochs_per_second).toFixed(2)}`);
console.log(`  ratio native/webgpu: ${(rows[0]![1].eps / rows[1]![1].eps).toFixed(1)}`);
console.log(`  ratio native/interpreter: ${(rows[0]![1].eps / rows[2]![1].eps).toFixed(1)}`);

const gflops = async (s: Session, n: number) => (await matmulFlops(s, n)) / 1e9;

const gpu = await openGpu();
const hasBlas = blasFlags().length > 0;
console.log(
  '\nfp32 matmul n×n·n×n, GFLOP/s (best of 3 steps, reading C back included); native: the generated C and, where a ' +
    `BLAS is installed, the BLAS path (${hasBlas ? blasFlags().slice(1).join(' ') : 'none found'})`,
);
const native = async (m: Module, cfg: ReturnType<typeof planConfigOf>, n: number, blas: boolean) => {
  if (blas) delete process.env['FLEXC_BLAS'];
  else process.env['FLEXC_BLAS'] = '0';
  return gflops(
    nativeSession(TARGETS.c, m, cfg, () => ({}) as never),
    n,
  );
};
for (const n of SIZES) {
  const m = matmulModule(n);
  const cfg = planConfigOf({ name: `matmul_${n}`, task: { kind: 'infer' } });
  const generated = await native(m, cfg, n, false);
  const viaBlas = hasBlas ? await native(m, cfg, n, true) : undefined;
  const web = await gflops(await webgpuSession(gpu, m, cfg, () => ({}) as never, { deviceClass: 'cpu' }), n);
  const npg = np?.matmul_gflops[String(n)];
  const f = (x: number | undefined, w = 7) => (x === undefined ? 'n/a'.padStart(w) : x.toFixed(1).padStart(w));
  console.log(
    `  ${String(n).padStart(5)}³  native generated ${f(generated)}   native BLAS ${f(viaBlas)}   webgpu ${f(web, 5)}` +
      `   numpy ${f(npg)}` +
      (npg ? `   ratio native/numpy ${((viaBlas ?? generated) / npg).toFixed(2)}` : '') +
      (npg ? ` (generated ${(generated / npg).toFixed(2)})` : ''),
  );
}
gpu.device.destroy();
process.exit(0);
