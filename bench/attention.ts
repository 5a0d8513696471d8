// Fused attention (one kernel, FlashAttention's online softmax) against its composite (`attention: composite`: the
// T×T scores, mask and softmax as ops), in one run on this machine: causal attention over 8 heads of 64 at
// T ∈ {256, 1024, 4096} (BENCH_ATTN_T), batch 1; the forward pass (an inference plan), natively (C) and on WebGPU
// (SwiftShader here, cpu-class kernels). Prints the median latency of BENCH_STEPS (3) steps after a warm-up, the
// step's peak memory (the highest arena byte its launches bind), and composite / fused for both.
// BENCH_ATTN_TRAIN=1 adds training steps (q, k, v projected from x; forward and backward, SGD).
// On WebGPU at 4096 the composite cannot run (its arena passes SwiftShader's largest buffer): the row says so.
// BENCH_ATTN_BACKENDS: native,webgpu (both, the default) or one of them.
import './fail-plainly.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { graphResolver } from '../compiler/cli/run.ts';
import { nativeSession, webgpuSession } from '../compiler/cli/trainers.ts';
import { compile } from '../compiler/compile.ts';
import { TARGETS } from '../compiler/targets/registry.ts';
import type { Session } from '../runtime/session.ts';
import { timeSteps } from './time-steps.ts';
import { ATTN_DH, ATTN_HEADS, type AttentionCase, attentionCaseName, attentionLayerSource } from './attention-layer.ts';
import { openGpu } from '../runtime/webgpu/device.ts';

const STEPS = Number(process.env['BENCH_STEPS'] ?? 3);
const TOKENS = (process.env['BENCH_ATTN_T'] ?? '256,1024,4096').split(',').map(Number);
const TASKS = process.env['BENCH_ATTN_TRAIN'] === '1' ? (['infer', 'train'] as const) : (['infer'] as const);
const BACKENDS = (process.env['BENCH_ATTN_BACKENDS'] ?? 'native,webgpu').split(',') as ('native' | 'webgpu')[];
const [HEADS, DH] = [ATTN_HEADS, ATTN_DH];
const ATTENTIONS = ['fused', 'composite'] as const;

const planName = (task: AttentionCase['task'], t: number, attention: AttentionCase['attention']) =>
  attentionCaseName({ task, t, attention });
const source = attentionLayerSource(
  TASKS.flatMap((task) => TOKENS.flatMap((t) => ATTENTIONS.map((attention) => ({ task, t, attention })))),
);
const dir = mkdtempSync(join(tmpdir(), 'flexc-bench-attention-'));
const file = join(dir, 'attention.flex');
writeFileSync(file, `${source}\n`);

type Measure = Awaited<ReturnType<typeof timeSteps>>;

const time = (s: Session) => timeSteps(s, STEPS);

const gpu = await openGpu();
const rows: string[] = [];
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toPrecision(3));
const mib = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 24 ? 2 : 0)} MiB`;
for (const backend of BACKENDS)
  for (const task of TASKS)
    for (const t of TOKENS) {
      const head = `${backend.padEnd(7)} ${task.padEnd(5)} T ${String(t).padStart(5)}`;
      const got: (Measure | string)[] = [];
      for (const attention of ATTENTIONS) {
        const r = compile(file, planName(task, t, attention));
        if (!r.module || !r.lowered) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
        const graphs = graphResolver(r.program);
        try {
          const s =
            backend === 'native'
              ? nativeSession(TARGETS.c, r.module, r.lowered.config, graphs)
              : await webgpuSession(gpu, r.module, r.lowered.config, graphs, { deviceClass: 'cpu' });
          got.push(await time(s));
        } catch (e) {
          got.push((e as Error).message.split('\n')[0]!);
        }
      }
      const [fused, composite] = got as [Measure | string, Measure | string];
      const show = (m: Measure | string) =>
        typeof m === 'string' ? `failed (${m})` : `${fmt(m.ms).padStart(7)} ms ${mib(m.peak).padStart(10)}`;
      const ratio =
        typeof fused === 'string' || typeof composite === 'string'
          ? ''
          : `  composite/fused: time ${(composite.ms / fused.ms).toFixed(2)}, memory ` +
            `${(composite.peak / fused.peak).toFixed(2)}`;
      const row = `${head}: fused ${show(fused)}  composite ${show(composite)}${ratio}`;
      rows.push(row);
      console.log(row);
    }
console.log(
  `\ncausal attention, ${HEADS} heads of ${DH}, batch 1; median of ${STEPS} steps after a warm-up; ` +
    `native C with OpenMP, WebGPU on ${gpu.adapter}; memory: the step's arena peak`,
);
for (const row of rows) console.log(`  ${row}`);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
