// `flexc plan` time on the largest example plans (goal: under a second each; ogbn-papers100M's shape, placed over
// GPU, host and SSD in 32 blocks, under five seconds; `parallel: auto` over GPT-3 175B on 1,024 GPUs, the search
// itself under ten seconds), and what they report:
// in this process (compile + cost model, after the first case has warmed the JIT up), and as a user
// sees it, a fresh `flexc plan` process (Node's start-up and a cold JIT included; the bundled CLI when
// `npm run build` has made it).
// Run: npm run bench:plan
import './fail-plainly.ts';
import { spawnSync } from 'node:child_process';
import { compile } from '../compiler/compile.ts';
import { summarize } from '../compiler/cost/plan-summary.ts';
import { fmtBytes } from '../compiler/sema/units.ts';

const cases: [string, string][] = [
  ['examples/llama2-7b.flex', 'pretrain_zero2'],
  ['examples/llama2-70b.flex', 'pretrain_zero3'],
  ['examples/llama2-70b.flex', 'pretrain_zero3_offload'],
  ['examples/gpt3-175b.flex', 'pretrain_zero3'],
  ['examples/gpt3-175b.flex', 'pretrain_zero3_offload'],
  ['examples/llama2-70b.flex', 'finetune_lora'],
  ['examples/llama2-70b.flex', 'serve'],
  ['examples/gpt3-175b.flex', 'serve'],
  ['examples/sage-papers100m.flex', 'streamed'],
  ['examples/gpt3-175b.flex', 'pretrain_auto'],
];
for (const [file, plan] of cases) {
  const timings: { pass: string; ms: number }[] = [];
  const t0 = performance.now();
  const r = compile(file, plan, { timings });
  const t1 = performance.now();
  if (!r.module || !r.lowered) throw new Error(`${file} ${plan}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  const { summary: s } = summarize(r.module, r.lowered, r.decode);
  const t2 = performance.now();
  const c0 = performance.now();
  const cli = spawnSync(process.execPath, ['bin/flexc.mjs', 'plan', file, '--plan', plan, '--json'], {
    encoding: 'utf8',
  });
  if (cli.status !== 0) throw new Error(`flexc plan ${file} --plan ${plan}: ${cli.stderr}`);
  const cold = (performance.now() - c0) / 1000;
  const slow = [...timings]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 2)
    .map((t) => `${t.pass} ${t.ms.toFixed(0)} ms`)
    .join(', ');
  console.log(
    `${file} --plan ${plan}: ${((t2 - t0) / 1000).toFixed(2)} s in ` +
      `process, ${cold.toFixed(2)} s as a fresh process (compile ` +
      `${((t1 - t0) / 1000).toFixed(2)} s [${slow}], cost model ` +
      `${((t2 - t1) / 1000).toFixed(2)} s), ${r.module.values.length} values; ` +
      `GPU peak ${fmtBytes(s.memory.gpu.peak_bytes)}${s.memory.gpu.fits === false ? ' (does not fit)' : ''}, step ` +
      `${s.time!.step_seconds.toFixed(2)} s, ${throughput(s.throughput!)}, MFU ${(100 * s.mfu!).toFixed(1)}%` +
      (s.memory.ssd.peak_bytes
        ? `; host ${fmtBytes(s.memory.host.peak_bytes)}, SSD ${fmtBytes(s.memory.ssd.peak_bytes)}`
        : '') +
      (s.serving
        ? `; first token ${s.serving.time_to_first_token_seconds.toFixed(2)} s, ` +
          `${(1000 * s.serving.decode_seconds_per_token).toFixed(1)} ms per token`
        : ''),
  );
  if (r.search) {
    const c = r.search.best[0]!.candidate;
    console.log(
      `  parallel: auto searched ${r.search.considered} partitions of ${c.tensor * c.pipeline * c.data} GPUs in ` +
        `${r.search.seconds.toFixed(2)} s (goal < 10 s; ${r.search.profiles} layer profiles compiled), chose tensor ` +
        `${c.tensor}${c.sequence ? ' + sequence' : ''} × pipeline ${c.pipeline} × data ${c.data}, ZeRO-${c.zero}, ` +
        `micro-batch ${c.micro}, checkpoint ${c.checkpoint}`,
    );
  }
}

function throughput(t: { tokens_per_second: number | null; samples_per_second: number }): string {
  return t.tokens_per_second !== null
    ? `${Math.round(t.tokens_per_second)} tokens/s`
    : `${Math.round(t.samples_per_second)} samples/s`;
}
