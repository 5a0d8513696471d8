// `flexc plan` time on the largest example plans (goal: under a second each), and what they report.
// Run: npm run bench:plan
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
];
for (const [file, plan] of cases) {
  const timings: { pass: string; ms: number }[] = [];
  const t0 = performance.now();
  const r = compile(file, plan, { timings });
  const t1 = performance.now();
  if (!r.module || !r.lowered) throw new Error(`${file} ${plan}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
  const { summary: s } = summarize(r.module, r.lowered, r.decode);
  const t2 = performance.now();
  const slow = [...timings].sort((a, b) => b.ms - a.ms).slice(0, 2).map((t) => `${t.pass} ${t.ms.toFixed(0)} ms`).join(', ');
  console.log(
    `${file} --plan ${plan}: ${((t2 - t0) / 1000).toFixed(2)} s (compile ${((t1 - t0) / 1000).toFixed(2)} s [${slow}], cost model ${((t2 - t1) / 1000).toFixed(2)} s), ${r.module.values.length} values; ` +
      `GPU peak ${fmtBytes(s.memory.gpu.peak_bytes)}${s.memory.gpu.fits === false ? ' (does not fit)' : ''}, step ${s.time!.step_seconds.toFixed(2)} s, ${Math.round(s.throughput!.tokens_per_second!)} tokens/s, MFU ${(100 * s.mfu!).toFixed(1)}%` +
      (s.serving ? `; first token ${s.serving.time_to_first_token_seconds.toFixed(2)} s, ${(1000 * s.serving.decode_seconds_per_token).toFixed(1)} ms per token` : ''),
  );
}
