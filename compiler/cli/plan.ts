import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { compile } from '../compile.ts';
import { writeAtomic } from '../write-atomic.ts';
import { summarize, type PlanSummary } from '../cost/plan-summary.ts';
import { CATEGORIES } from '../cost/memory.ts';
import { TIME_CLASSES } from '../cost/step.ts';
import { type ComparedPlan, comparedPlan, compareSvg, compareTable } from './compare.ts';
import type { Evaluated, SearchResult } from '../cost/search.ts';
import { checkFile } from '../sema/check.ts';
import { loadProgram, type Program } from '../sema/program.ts';
import { fmtBytes } from '../sema/units.ts';
import { addDiagnostics, type Diagnostic } from '../../grammar/diagnostics.ts';
import { printDiagnostics } from './diagnostics-out.ts';
import { EXIT } from './exit.ts';
import { memorySvg, type MemoryPanel } from './plan-svg.ts';
import { NF4_BYTES_PER_ELEMENT } from '../../runtime/nf4.ts';

export type { PlanSummary };

/**
 * `flexc plan FILE… [--plan NAME] [--json] [--svg FILE]`: per plan of each file, memory per tier,
 * step time, throughput and MFU; `--svg` draws every plan's GPU memory into that one file.
 */
export function planCommand(
  files: string[],
  o: { plan?: string; json?: boolean; svg?: string; compare?: boolean },
): void {
  for (const file of files)
    if (!existsSync(file)) {
      process.stderr.write(`flexc: no such file: ${file}\n`);
      process.exit(EXIT.usage);
    }
  const reports: (PlanSummary & { file: string })[] = [];
  const compared: ComparedPlan[] = [];
  const panels: MemoryPanel[] = [];
  const problems: Diagnostic[] = [];
  const programs: Program[] = [];
  for (const file of files) {
    // each plan is checked and compiled alone (compile checks the whole file, lowering only that plan)
    const names =
      o.plan !== undefined
        ? [o.plan]
        : loadProgram(file).entry.ast.decls.flatMap((d) => (d.kind === 'plan' ? [d.name.name] : []));
    if (names.length === 0) {
      const checked = checkFile(file);
      programs.push(checked.program);
      addDiagnostics(problems, checked.diagnostics);
      if (!checked.diagnostics.length) process.stderr.write(`flexc: ${file} declares no plan\n`);
    }
    for (const name of names) {
      const r = compile(file, name);
      programs.push(r.program);
      if (!r.module || !r.lowered) {
        addDiagnostics(problems, r.diagnostics);
        continue;
      }
      const { summary, timeline } = summarize(r.module, r.lowered, r.decode);
      reports.push({ file, ...summary, ...(r.search ? { search: r.search } : {}) });
      compared.push(comparedPlan({ file, ...summary }, r.lowered.hardware?.gpu?.count ?? 1));
      const capacity = r.lowered.hardware?.gpu?.part['memory'];
      panels.push({
        title: files.length > 1 ? `${file}: plan ${name}` : `plan ${name}`,
        timeline,
        budget: summary.budget_bytes,
        capacity: typeof capacity === 'number' ? capacity : null,
      });
    }
  }
  if (problems.some((d) => d.severity === 'error')) {
    const seen = new Set<string>();
    const unique = problems.filter((d) => {
      const key = `${d.code}:${d.span.file}:${d.span.line}:${d.span.column}:${d.message}`;
      return !seen.has(key) && (seen.add(key), true);
    });
    const merged = programs[0]!;
    for (const p of programs.slice(1)) for (const [k, v] of p.files) merged.files.set(k, v);
    printDiagnostics(unique, merged, false);
    process.exitCode = EXIT.user;
  }
  if (o.compare) {
    if (o.svg && compared.length) {
      writeInto(o.svg, compareSvg(compared));
      process.stderr.write(`wrote ${o.svg}: ${compared.length} plans compared\n`);
    }
    if (o.json) process.stdout.write(`${JSON.stringify({ files, plans: compared }, null, 2)}\n`);
    else process.stdout.write(compareTable(compared));
    return;
  }
  if (o.svg && panels.length) {
    writeInto(o.svg, memorySvg(panels));
    process.stderr.write(
      `wrote ${o.svg}: GPU memory over the step of ${panels.length === 1 ? 'plan' : `${panels.length} plans:`} ` +
        `${panels.map((p) => p.title.replace(/^plan /, '').replace(': plan ', ':')).join(', ')}\n`,
    );
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ files, plans: reports }, null, 2)}\n`);
  else process.stdout.write(reports.map((r) => humanReport(r, files.length > 1 ? r.file : undefined)).join('\n'));
}

/** Writes a file atomically; a folder that does not exist is a usage error, not a crash. */
function writeInto(path: string, text: string): void {
  const dir = dirname(resolve(path));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    process.stderr.write(`flexc: cannot write ${path}: the folder ${dirname(path)} does not exist\n`);
    process.exit(EXIT.usage);
  }
  writeAtomic(path, text);
}

const fmtFlops = (n: number) => {
  const units = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  let k = 0;
  while (n >= 1000 && k < units.length - 1) (n /= 1000), k++;
  return n === 0 ? '0 FLOP' : `${n.toPrecision(3)} ${units[k]}FLOP`;
};

const fmtSeconds = (s: number) =>
  s >= 1 ? `${s.toPrecision(3)} s` : s >= 1e-3 ? `${(s * 1e3).toPrecision(3)} ms` : `${(s * 1e6).toPrecision(3)} us`;
const fmtRate = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The human report of one plan: memory per tier, recompute, step time by class, throughput, MFU and the bottleneck. */
export function humanReport(s: PlanSummary, file?: string): string {
  const g = s.memory.gpu;
  const { data, zero, offload } = s.parallel;
  const offloaded = offload.length ? `offload ${offload.join(' + ')}` : '';
  const ep = s.parallel.expert ?? 1;
  const tp = s.parallel.tensor ?? 1;
  const pp = s.parallel.pipeline ?? 1;
  const ranks = [
    tp > 1 ? `tensor-parallel ×${tp}${s.parallel.sequence ? ' with sequence parallelism' : ''}` : '',
    pp > 1 ? `pipeline ×${pp}` : '',
    ...(data > 1 ? [`data-parallel ×${data}`, ep > 1 ? `expert-parallel ×${ep}` : '', zero ? `ZeRO-${zero}` : ''] : []),
  ].filter(Boolean);
  const split = [...ranks, offloaded].filter(Boolean);
  const on = s.hardware ? ` on ${s.hardware}${split.length ? ` (${split.join(', ')})` : ''}` : '';
  const parts = (t: PlanSummary['memory']['gpu' | 'host']) =>
    CATEGORIES.filter((c) => t[c] > 0)
      .map((c) => `${c.replace('_', ' ')} ${fmtBytes(t[c])}`)
      .join(', ');
  const budget = s.budget_bytes === null ? 'no budget' : `budget ${fmtBytes(s.budget_bytes)}`;
  const lines = [
    `${file ? `${file}: ` : ''}plan ${s.plan} (${s.task}, ${s.precision}, checkpoint ${s.checkpoint}` +
      `${s.checkpoint_solver ? `: ${s.checkpoint_solver}` : ''}` +
      `${s.blocks > 1 ? `, ${s.blocks} node blocks` : ''})${on}`,
  ];
  const count = (n: number) =>
    n >= 1e9 ? `${(n / 1e9).toPrecision(3)} B` : n >= 1e6 ? `${(n / 1e6).toPrecision(3)} M` : n.toLocaleString('en-US');
  const p = s.parameters;
  const trained = `, ${count(p.trained)} trained (${((100 * p.trained) / p.count).toPrecision(2)}%)`;
  const nf4 = p.nf4 ? `, ${count(p.nf4)} stored as NF4 (${NF4_BYTES_PER_ELEMENT} B each)` : '';
  const rank =
    pp > 1
      ? ` over ${pp} pipeline stages${tp > 1 ? `, each layer split over ${tp} tensor-parallel ranks` : ''}`
      : tp > 1
        ? ` per GPU (one of ${tp} tensor-parallel ranks)`
        : '';
  lines.push(
    `  parameters  ${count(p.count)}${rank}${p.trained !== p.count && s.task !== 'infer' ? trained : ''}${nf4}`,
  );
  if (p.moe && p.active !== undefined) {
    const { layers, experts, k, capacity, padding, dropped, kernels, fused } = p.moe;
    const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
    const fill = dropped > 0 ? `at least ${pct(dropped)} of the choices dropped` : `${pct(padding)} of them padding`;
    lines.push(
      `              ${count(p.active)} active per token: ${layers} MoE layer${layers > 1 ? 's' : ''} of ${experts} ` +
        `experts, top-${k}; ${capacity} slots per expert, ${fill}`,
      `              each MoE layer runs ${kernels.forward} kernel${kernels.forward > 1 ? 's' : ''} forward and ` +
        `${kernels.backward} backward` +
        (fused === layers
          ? ` (fused: one persistent kernel each way, which skips the padding${
              kernels.forward > 1 || kernels.backward > 1 ? '; the layer’s other ops run outside it' : ''
            })`
          : ` (\`fuse: [moe]\` makes each direction one kernel${fused ? `; ${fused} of ${layers} layers fused` : ''})`),
    );
  }
  if (s.search) lines.push(...searchLines(s.search));
  if (s.fusion) lines.push(`  fusion      ${fusionLine(s.fusion)}`);
  lines.push(`  GPU memory  peak ${fmtBytes(g.peak_bytes)} per GPU (${budget}): ${parts(g)}`);
  const capacity = s.memory.gpu.capacity_bytes;
  if (capacity !== null && g.peak_bytes > capacity)
    lines.push(`              does not fit: the GPU has ${fmtBytes(capacity)}`);
  if (s.parallel.data === 1 && !s.parallel.offload.length && s.precision === 'fp32') {
    const without = g.arena_bytes_without_checkpointing;
    const differs = without !== null && g.arena_bytes !== without;
    const both = differs ? ` with checkpointing, ${fmtBytes(without)} without` : '';
    lines.push(`              arena ${fmtBytes(g.arena_bytes)}${both}`);
  } else if (g.checkpointing?.measured === 'per-gpu' && g.checkpointing.bytes_with !== g.checkpointing.bytes_without)
    lines.push(`              ${fmtBytes(g.checkpointing.bytes_without)} per GPU without checkpointing`);
  const sl = s.state_bytes_per_parameter;
  if (sl) {
    const b = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(2));
    lines.push(
      `              model states ${b(sl.total)} B per parameter: weights ${b(sl.weights)}, gradients ` +
        `${b(sl.gradients)}${sl.accumulated ? ' (fp32 sums of micro-batches)' : ''}` +
        `${sl.master ? `, fp32 master ${b(sl.master)}` : ''}, optimizer ${b(sl.optimizer)}`,
    );
  }
  if (s.memory.host.peak_bytes > 0)
    lines.push(`  host memory ${fmtBytes(s.memory.host.peak_bytes)}: ${parts(s.memory.host)}`);
  if (s.memory.ssd.peak_bytes > 0) lines.push(`  SSD         ${fmtBytes(s.memory.ssd.peak_bytes)}: activations`);
  const pl = s.placement;
  if (pl) {
    const count = (t: 'host' | 'ssd', leaf: boolean) =>
      pl.values.filter((v) => v.tier === t && (v.kind !== 'activation') === leaf).length;
    const links = Object.entries(pl.link_bytes_per_step)
      .filter(([, b]) => b > 0)
      .map(([l, b]) => `${l} ${fmtBytes(b)}`)
      .join(', ');
    const leaves = count('host', true);
    lines.push(
      `  placement   ${pl.policy}: ${count('host', false)} activations` +
        `${leaves ? ` and ${leaves} inputs, parameters or optimizer states` : ''} in host memory, ` +
        `${count('ssd', false)} activations on the SSD; per step ${links}`,
    );
  }
  const sv = s.serving;
  lines.push(
    sv
      ? `  compute     ${fmtFlops(s.flops.step)} per request (prompt of ${sv.prefill_tokens} tokens, ` +
          `${sv.decode_tokens} generated${sv.kv_cache ? ' with a KV cache' : ', no KV cache'})`
      : s.task === 'infer'
        ? `  compute     ${fmtFlops(s.flops.step)} per step`
        : `  compute     ${fmtFlops(s.flops.step)} per step per GPU; recompute ` +
          `${fmtFlops(s.flops.recompute)} (${s.flops.recompute_percent.toFixed(1)}%)`,
  );
  if (s.time) {
    const t = s.time;
    const by = TIME_CLASSES.filter((c) => t.by_class[c] > 0)
      .map((c) => `${c} ${fmtSeconds(t.by_class[c])} (${pct(t.by_class[c] / t.step_seconds)})`)
      .join(', ');
    lines.push(`  ${sv ? 'request    ' : 'step time  '} ${fmtSeconds(t.step_seconds)}: ${by}`);
    if (!sv && s.task !== 'infer')
      lines.push(
        `              by pass: forward ${fmtSeconds(t.forward_seconds)}, ` +
          `${t.recompute_seconds > 0 ? `recompute ${fmtSeconds(t.recompute_seconds)}, ` : ''}` +
          `backward ${fmtSeconds(t.backward_seconds)}, optimizer ${fmtSeconds(t.optimizer_seconds)}`,
      );
    if (sv)
      lines.push(
        `  serving     first token in ${fmtSeconds(sv.time_to_first_token_seconds)}; then ` +
          `${fmtSeconds(sv.decode_seconds_per_token)} per token ` +
          `(${fmtRate(sv.decode_tokens_per_second)} tokens/s across the batch)`,
      );
    const rate =
      s.throughput!.tokens_per_second !== null
        ? `${fmtRate(s.throughput!.tokens_per_second)} tokens/s`
        : `${s.throughput!.samples_per_second.toPrecision(4)} samples/s`;
    const pl = s.pipeline;
    if (pl) {
      const ms = (x: number) => fmtSeconds(x);
      lines.push(
        `  pipeline    ${pl.schedule}, ${pl.microbatches} micro-batches: bubble ${pct(pl.bubble_fraction)} of the ` +
          `pipeline's time (${ms(pl.bubble_seconds)})`,
        ...pl.ranks.map(
          (r, i) =>
            `              rank ${i} (stage ${r.stages.join(' and ')}): per micro-batch ` +
            `forward ${ms(r.forward_seconds)}, backward ${ms(r.backward_seconds)}, communication ` +
            `${ms(r.communication_seconds)}; update ${ms(r.update_seconds)}; memory ${fmtBytes(r.peak_bytes)} ` +
            `(${+r.in_flight.toFixed(2)} micro-batch${r.in_flight === 1 ? '' : 'es'} in flight)`,
        ),
      );
    }
    lines.push(`  throughput  ${rate}, MFU ${pct(s.mfu!)}; bottleneck: ${s.bottleneck}`);
  } else lines.push('  step time   (give the plan hardware with `on: …` to estimate it)');
  return `${lines.join('\n')}\n`;
}

/** `parallel: auto`: what was searched, the fastest partitions that fit, and why the others lost. */
function searchLines(r: SearchResult): string[] {
  const c = (e: Evaluated) => {
    const x = e.candidate;
    const schedule =
      x.pipeline > 1 ? ` ${x.schedule.kind === 'interleaved' ? `interleaved(${x.schedule.chunks})` : '1F1B'}` : '';
    return (
      `tensor ${x.tensor}${x.sequence ? ' + sequence' : ''} × pipeline ${x.pipeline}${schedule} × data ${x.data}` +
      `${x.expert > 1 ? ` (experts over ${x.expert})` : ''}, ` +
      `ZeRO-${x.zero}, micro-batch ${x.micro}, checkpoint ${x.checkpoint}`
    );
  };
  const lost = Object.entries(r.lost)
    .filter(([, n]) => n > 0)
    .map(([why, n]) => `${why} ${n}`)
    .join(', ');
  return [
    `  search      parallel: auto tried ${r.considered} partitions in ${r.seconds.toFixed(1)} s (${r.profiles} layer ` +
      'profiles compiled); the fastest that fit:',
    ...r.best.map(
      (e, i) =>
        `              ${i + 1}. ${c(e)}: ${fmtSeconds(e.step_seconds)} a step, ${fmtRate(e.tokens_per_second)} ` +
        `tokens/s, MFU ${pct(e.mfu)}, ${fmtBytes(e.peak_bytes)} per GPU`,
    ),
    `              the others lost to ${lost || 'nothing'} (memory: they do not fit; otherwise where most of ` +
      'the time they lose goes)',
  ];
}

/** What `fuse` fused, or that an entry had nothing to fuse and why. */
function fusionLine(f: NonNullable<PlanSummary['fusion']>): string {
  const said: string[] = [];
  const e = f.elementwise;
  if (e)
    said.push(
      e.kernels
        ? `elementwise: ${e.ops.toLocaleString('en-US')} ops in ${e.kernels.toLocaleString('en-US')} kernels`
        : 'elementwise: nothing to fuse (no elementwise op is the only reader of another of its shape)',
    );
  const moe = f.moe;
  if (moe)
    said.push(
      !moe.layers
        ? 'moe: nothing to fuse (the model has no MoE layer)'
        : moe.fused === moe.layers
          ? `moe: ${moe.layers} layer${moe.layers > 1 ? 's' : ''}, one kernel each way`
          : `moe: ${moe.fused} of ${moe.layers} layers (the fused kernel takes at most 256 experts and 2^24 choices)`,
    );
  return said.join('; ');
}
