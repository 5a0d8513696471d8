// Compile-time benchmark: check + lower + differentiate (the whole pipeline) for GPT-2 small and a
// 16x deeper variant. Prints milliseconds per phase and the deep/base ratio (linear growth ≈ 16x).
// The deeper copy's GPU budget grows with its depth (and it drops the hardware, whose GPU it outgrows), so both
// compile the same pipeline.
import './fail-plainly.ts';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { compile } from '../compiler/compile.ts';

const FILE = 'examples/gpt.flex';
const abs = resolve(FILE);
const base = readFileSync(abs, 'utf8');
const REPEAT = Number(process.env['BENCH_REPEAT'] ?? 5);

function measure(depth: number): { ms: number; values: number; passes: Record<string, number> } {
  const plan = /plan gpt2_small \{[\s\S]*?\n\}/.exec(base)?.[0];
  const budget = plan && /memory: \{ gpu: (\d+) GiB \}/.exec(plan);
  if (!plan || !budget)
    throw new Error(`${FILE} no longer has the plan gpt2_small with a memory budget in GiB that this bench scales`);
  // a deeper copy outgrows the workstation's GPU (FLX5015): it is compiled for no hardware
  const scaled = plan
    .replace('model: Gpt\n', `model: Gpt(depth: ${depth})\n`)
    .replace(budget[0], `memory: { gpu: ${(Number(budget[1]) * depth) / 12} GiB }`)
    .replace(depth === 12 ? /$^/ : /\n {2}on: \w+\n/, '\n');
  const text = base.replace(plan, scaled);
  const read = (p: string) => (p === abs ? text : readFileSync(p, 'utf8'));
  let best = Infinity;
  let values = 0;
  let passes: Record<string, number> = {};
  for (let i = 0; i < REPEAT; i++) {
    const timings: { pass: string; ms: number }[] = [];
    const t0 = performance.now();
    const r = compile(FILE, 'gpt2_small', { read, timings });
    const ms = performance.now() - t0;
    if (!r.module) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    if (ms < best) {
      best = ms;
      values = r.module.values.length;
      passes = Object.fromEntries(timings.map((t) => [t.pass, t.ms]));
    }
  }
  return { ms: best, values, passes };
}

measure(12); // warm up the JIT
const small = measure(12);
const deep = measure(192);
const fmt = (x: number) => x.toFixed(1).padStart(8);
console.log(`flexc compile time (check + lower + autodiff + optimizer + dce), best of ${REPEAT}`);
console.log(
  `model                      ops in IR    total ms   ${Object.keys(small.passes)
    .map((p) => p.padStart(10))
    .join(' ')}`,
);
for (const [name, r] of [
  ['GPT-2 small (12 layers)', small],
  ['GPT-2 x16 (192 layers)', deep],
] as const)
  console.log(
    `${name.padEnd(26)} ${String(r.values).padStart(8)}  ${fmt(r.ms)}   ${Object.values(r.passes)
      .map((ms) => fmt(ms).padStart(10))
      .join(' ')}`,
  );
console.log(`ratio deep/small: ${(deep.ms / small.ms).toFixed(2)} (16x the layers; linear growth is 16)`);
console.log(
  `ms per 1000 ops: small ${((small.ms / small.values) * 1000).toFixed(2)}, ` +
    `deep ${((deep.ms / deep.values) * 1000).toFixed(2)}`,
);
