// Prepares what scripts/gpu-check.sh runs on a machine with an NVIDIA GPU and no Node: for each example plan its
// CUDA build (kernels, host library sources, plan.json), the initial parameters, the feeds and the CPU reference's
// outputs for 3 steps; the kernel of every op with its operands and the reference's result; and the single-matmul
// plans of the GFLOP/s figures; the MoE layers of bench/moe.ts, fused and as ops. Writes gpu-check/ (git-ignored;
// the device tool carries it).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { bindingsOf } from '../compiler/codegen/bindings.ts';
import { buildPlan, FORWARD_LIBRARY } from '../compiler/codegen/plan.ts';
import { evalModule, graphResolver } from '../compiler/cli/run.ts';
import { compile } from '../compiler/compile.ts';
import { runPipeline } from '../compiler/passes/pipeline.ts';
import { copyModule } from '../compiler/plan-pipeline.ts';
import { runModule } from '../compiler/interp/interpret.ts';
import { CpuSession } from '../compiler/interp/session.ts';
import { matmulModule } from '../compiler/cli/probe.ts';
import type { Module } from '../compiler/ir/graph.ts';
import { lowerValue } from '../compiler/kernel/lower/index.ts';
import { differentiate } from '../compiler/passes/autodiff.ts';
import { TARGETS } from '../compiler/targets/registry.ts';
import { writeSources } from '../compiler/targets/compile.ts';
import type { GraphSpec } from '../runtime/data/graph-spec.ts';
import { planFeeds } from '../runtime/feeds.ts';
import { initTensor } from '../runtime/init.ts';
import type { Plan } from '../runtime/plan.ts';
import { randomData, singleOpModule } from '../test/helpers/oracle.ts';
import { planConfig } from '../test/helpers/plan-config.ts';
import { OP_CASES } from '../test/ir/op-cases.ts';
import { moeCaseName, moeLayerSource } from '../bench/moe-layer.ts';
import { ATTN_DH, ATTN_HEADS, attentionCaseName, attentionLayerSource } from '../bench/attention-layer.ts';
import { NO_KERNEL_OPS } from '../compiler/ir/ops/tier.ts';

const OUT = resolve('gpu-check');
// FLEXC_GPU_CHECK_TARGET=c: the same files for target c, to try the harness on a machine without a GPU
const TARGET = process.env['FLEXC_GPU_CHECK_TARGET'] === 'c' ? TARGETS.c : TARGETS.cuda;
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

const f32 = (a: ArrayLike<number>) => (a instanceof Int32Array ? a : Float32Array.from(a));
function save(file: string, data: ArrayLike<number>): string {
  mkdirSync(join(file, '..'), { recursive: true });
  const t = f32(data);
  writeFileSync(file, new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  return relative(OUT, file);
}

function graphsOf(m: Module, graphs: (g: string) => GraphSpec): Record<string, GraphSpec> {
  const out: Record<string, GraphSpec> = {};
  for (const v of m.values) {
    const f = v.attrs['feed'];
    if (typeof f === 'string' && f.startsWith('graph:'))
      out[f.slice(6).split('/')[0]!] = graphs(f.slice(6).split('/')[0]!);
  }
  return out;
}

/** The arena writes of a step (buffer id → file), as the runtime's feeds make them. */
function feedsOf(plan: Plan, step: number, dir: string, data: Parameters<typeof planFeeds>[2]) {
  return planFeeds(plan, step, data).map(([id, t]) => ({ buffer: id, file: save(join(dir, `${id}.bin`), t) }));
}

// the last two place values in host memory and on the SSD (copies on the stream, the spill file's host functions)
const examples: [string, string, string, number, ('host' | 'ssd')?][] = [
  ['mlp', 'examples/mlp.flex', 'small', 3],
  ['gpt-tiny', 'examples/gpt.flex', 'tiny', 3],
  ['gcn-cora', 'examples/gcn-cora.flex', 'train', 200],
  ['gpt-shakespeare', 'examples/gpt.flex', 'shakespeare', 3],
  ['gcn-cora-host', 'examples/gcn-cora.flex', 'train', 3, 'host'],
  ['gpt-tiny-ssd', 'examples/gpt.flex', 'tiny', 3, 'ssd'],
  // 8 node blocks at 1/16 of the footprint: leaves read by rows, updates and outputs in parts (buffers in buffers)
  ['gcn-cora-blocks', 'examples/gcn-cora-blocks.flex', 'sixteenth', 3],
  // a mixture of experts: top-2 routing with a capacity that drops tokens, the balance loss beside the loss
  ['moe-top2', 'test/moe/fixtures/moe-mlp.flex', 'top2', 3],
];

const manifest: Record<string, unknown> = { target: TARGET.name, examples: [], ops: [], matmul: [] };
for (const [name, file, planName, steps, placement] of examples) {
  const r = compile(file, planName);
  if (!r.module || !r.lowered) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  const graphs = graphResolver(r.program);
  const cfg = placement ? { ...r.lowered.config, placement } : r.lowered.config;
  // placed, the step computes the same numbers as the CPU reference's run of the unplaced one
  const placed = placement ? runPipeline(copyModule(r.lowered.forward), { config: cfg }) : r.module;
  const text = cfg.data ? { file: resolve(cfg.data.file), split: cfg.data.split } : undefined;
  const dir = join(OUT, name);
  const train = buildPlan(placed, cfg, graphsOf(placed, graphs), { target: TARGET });
  writeSources(train, dir);
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(train.plan));
  const data = { graphs, text };
  const cpu = new CpuSession(r.module, { seed: cfg.seed, graphs, text });
  const init = train.plan.params.map((p) => {
    const b = train.plan.buffers[p.buffer]!;
    return {
      buffer: p.buffer,
      file: save(join(dir, 'init', `${p.buffer}.bin`), initTensor(p.init, b.shape, p.name, train.plan.seed)),
    };
  });
  const checked = Math.min(3, steps);
  const stepsOut = [];
  for (let s = 1; s <= checked; s++) {
    const feeds = feedsOf(train.plan, s, join(dir, 'feeds', String(s)), data);
    const want = cpu.run();
    const outputs = train.plan.outputs.map((o) => ({
      name: o.name,
      buffer: o.buffer,
      file: save(join(dir, 'expect', String(s), `${o.buffer}.bin`), want.get(o.name)!.data),
    }));
    stepsOut.push({ feeds, outputs });
  }
  const params = train.plan.params.map((p) => ({
    name: p.name,
    buffer: p.buffer,
    file: save(join(dir, 'expect', 'params', `${p.buffer}.bin`), cpu.params.get(p.name)!.data),
  }));
  const entry: Record<string, unknown> = {
    name,
    plan: `${name}/plan.json`,
    host: `${name}/${train.host!.file}`,
    steps: stepsOut,
    init,
    params,
    train_steps: steps,
  };
  if (name === 'gcn-cora') {
    // 200 epochs, then the evaluation plan on the trained parameters: test accuracy from its logits
    const ev = evalModule(r).module!;
    const fwd = buildPlan(ev, cfg, graphsOf(ev, graphs), { target: TARGET, library: FORWARD_LIBRARY });
    writeSources(fwd, dir);
    writeFileSync(join(dir, 'forward.json'), JSON.stringify(fwd.plan));
    const g = graphs('Cora');
    const { loadGraph } = await import('../runtime/data/graph.ts');
    const gd = loadGraph(g);
    entry['forward'] = {
      plan: `${name}/forward.json`,
      host: `${name}/${fwd.host!.file}`,
      feeds: feedsOf(fwd.plan, 1, join(dir, 'forward-feeds'), data),
      labels: save(join(dir, 'labels.bin'), gd.labels),
      test: save(join(dir, 'test.bin'), gd.split.test),
    };
  }
  (manifest['examples'] as unknown[]).push(entry);
}

// every op's kernel (gpu class), on the CPU reference's operands: the op cases, forward and backward, and the examples
const opsDir = join(OUT, 'ops');
const modules: [
  Module,
  Map<string, { data: ArrayLike<number>; shape: number[] }>,
  Map<string, { data: ArrayLike<number>; shape: number[] }>,
  number,
][] = [];
for (const c of OP_CASES) {
  const m = singleOpModule(c);
  const { feeds, params } = randomData(c, 99);
  modules.push([differentiate(m, m.outputs[0]!.value), feeds, params, 3]);
}
for (const [file, planName] of [
  ['examples/mlp.flex', 'small'],
  ['examples/gpt.flex', 'tiny'],
  ['examples/gcn-cora.flex', 'train'],
] as const) {
  const r = compile(file, planName);
  const s = new CpuSession(r.module!, { seed: 0, graphs: graphResolver(r.program) });
  modules.push([r.module!, s.feeds(r.module!, 2), s.params, 2]);
}
const kernels = new Map<string, string>();
const wrappers: string[] = [];
let n = 0;
for (const [m, feeds, params, step] of modules) {
  const cast = (t: Map<string, { data: ArrayLike<number>; shape: number[] }>) =>
    new Map(
      [...t].map(([k, a]) => [
        k,
        { data: a.data instanceof Int32Array ? a.data : Float32Array.from(a.data), shape: a.shape },
      ]),
    );
  const values = runModule(m, cast(feeds) as never, cast(params) as never, { precision: 'f32', step, keepValues: true })
    .values!;
  for (const v of m.values) {
    // leaves, a kernel's workspace and parts of a packed result have no kernel
    if (['input', 'param', 'state'].includes(v.op) || NO_KERNEL_OPS.has(v.op)) continue;
    const k = lowerValue(v, 'gpu');
    kernels.set(k.name, TARGETS.cuda.render(k));
    const args = k.buffers.map(
      (b, j) => `(${b.t === 'f32' ? 'float' : b.t === 'i32' ? 'int32_t' : 'uint32_t'}*)b[${j}]`,
    );
    const launch = `${k.name}<<<dim3(${k.dispatch.join(', ')}), dim3(${k.workgroup.join(', ')})>>>(${args.join(', ')})`;
    wrappers.push(`extern "C" int run_${n}(void** b) { ${launch}; return (int)cudaDeviceSynchronize(); }`);
    const operands = bindingsOf(v).operands.map((x, j) => ({
      dtype: x.type.dtype === 'i32' ? 'i32' : 'f32',
      file: save(join(opsDir, String(n), `${j}.bin`), values.get(x)!.data),
    }));
    (manifest['ops'] as unknown[]).push({
      index: n,
      op: v.op,
      kernel: k.name,
      operands,
      result: {
        dtype: v.type.dtype === 'i32' ? 'i32' : 'f32',
        file: save(join(opsDir, String(n), 'want.bin'), values.get(v)!.data),
      },
    });
    n++;
  }
}
writeFileSync(
  join(opsDir, 'ops.cu'),
  ['#include <cstdint>', '#include <cuda_runtime.h>', ...kernels.values(), ...wrappers].join('\n'),
);

// the GFLOP/s figures: C = A·B, both parameters, one kernel launch per step
for (const size of [1024, 4096]) {
  const m = matmulModule(size);
  const built = buildPlan(m, planConfig({ name: `matmul_${size}`, task: { kind: 'infer' } }), {}, { target: TARGET });
  const dir = join(OUT, `matmul-${size}`);
  writeSources(built, dir);
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(built.plan));
  (manifest['matmul'] as unknown[]).push({
    size,
    plan: `matmul-${size}/plan.json`,
    host: `matmul-${size}/${built.host!.file}`,
  });
}

/** A plan of `source` built for the target into OUT/<plan>: its plan.json and host library, as the manifest names. */
function buildCase(source: string, name: string): { plan: string; host: string } {
  const r = compile(source, name);
  if (!r.module || !r.lowered) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  const built = buildPlan(r.module, r.lowered.config, {}, { target: TARGET });
  const dir = join(OUT, name);
  writeSources(built, dir);
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(built.plan));
  return { plan: `${name}/plan.json`, host: `${name}/${built.host!.file}` };
}

// the MoE layer of bench/moe.ts, fused and as its ops (inference plans): gpu_check.py times both against a PyTorch
// eager MoE of the same shapes and weights
const moeSource = join(OUT, 'moe.flex');
const moeShapes = [128, 1024].flatMap((t) => [8, 64].flatMap((e) => [1, 2].map((k) => ({ t, e, k }))));
const moeCase = (s: { t: number; e: number; k: number }, fused: boolean) => ({ ...s, fused, task: 'infer' as const });
writeFileSync(moeSource, moeLayerSource(moeShapes.flatMap((s) => [moeCase(s, false), moeCase(s, true)])));
manifest['moe'] = moeShapes.map(({ t, e, k }) => {
  const entry: Record<string, unknown> = { t, e, k, d: 512, hidden: 2048, capacity_factor: 1.25 };
  for (const kind of ['ops', 'fused'])
    entry[kind] = buildCase(moeSource, moeCaseName(moeCase({ t, e, k }, kind === 'fused')));
  return entry;
});

// causal attention as bench/attention.ts runs it (8 heads of 64, batch 1), fused (one kernel) and composite (the
// scores as ops): gpu_check.py times both beside torch's scaled_dot_product_attention on the same q, k, v
const attnSource = join(OUT, 'attention.flex');
const attnTokens = [1024, 4096];
const attnCases = attnTokens.flatMap((t) =>
  (['fused', 'composite'] as const).map((attention) => ({ task: 'infer' as const, t, attention })),
);
writeFileSync(attnSource, attentionLayerSource(attnCases));
manifest['attention'] = attnTokens.map((t) => ({
  t,
  heads: ATTN_HEADS,
  dh: ATTN_DH,
  ...Object.fromEntries(
    attnCases.filter((c) => c.t === t).map((c) => [c.attention, buildCase(attnSource, attentionCaseName(c))]),
  ),
}));

writeFileSync(join(OUT, 'manifest.json'), JSON.stringify(manifest, null, 1));
console.log(
  `wrote ${OUT}: ${(manifest['examples'] as unknown[]).length} examples, ${n} op kernels, 2 matmul plans, ` +
    `${moeShapes.length} MoE layers fused and not, attention at T ${attnTokens.join(', ')}`,
);
