import { existsSync } from 'node:fs';
import { compile } from '../compile.ts';
import { planMemory } from '../codegen/memory.ts';
import type { Module } from '../ir/graph.ts';
import { flopsOf } from '../ir/ops/registry.ts';
import { checkFile } from '../sema/check.ts';
import { fmtBytes } from '../sema/units.ts';
import type { Diagnostic } from '../../grammar/diagnostics.ts';
import { printDiagnostics } from './diagnostics-out.ts';
import { EXIT } from './exit.ts';

/** What `flexc plan --json` prints for each plan. */
export interface PlanSummary {
  plan: string;
  task: string;
  checkpoint: string;
  budget_bytes: number | null;
  memory: { gpu: { peak_bytes: number; peak_bytes_without_checkpointing: number } };
  flops: { step: number; recompute: number; recompute_percent: number };
}

/** The summary of one compiled plan: the GPU arena with and without checkpointing and the recompute FLOPs. */
export function summarize(m: Module, config: { name: string; task: { kind: string }; checkpoint: unknown; memory: { gpu?: number } }): PlanSummary {
  const ck = m.checkpoint;
  const peak = ck?.bytesWith ?? planMemory(m).arenaBytes;
  const flops = flopsOf(m.values);
  const recompute = ck?.recomputeFlops ?? 0;
  const c = config.checkpoint;
  return {
    plan: config.name,
    task: config.task.kind,
    checkpoint: typeof c === 'string' ? c : `every(${(c as { every: number }).every})`,
    budget_bytes: config.memory.gpu ?? null,
    memory: { gpu: { peak_bytes: peak, peak_bytes_without_checkpointing: ck?.bytesWithout ?? peak } },
    flops: { step: flops, recompute, recompute_percent: Number(((100 * recompute) / Math.max(1, flops)).toFixed(2)) },
  };
}

/** `flexc plan FILE [--plan NAME] [--json]`: per plan, GPU memory with and without checkpointing and the recompute overhead. */
export function planCommand(file: string, o: { plan?: string; json?: boolean }): void {
  if (!existsSync(file)) {
    process.stderr.write(`flexc: no such file: ${file}\n`);
    process.exit(EXIT.usage);
  }
  const checked = checkFile(file);
  const names = o.plan !== undefined ? [o.plan] : checked.program.entry.ast.decls.flatMap((d) => (d.kind === 'plan' ? [d.name.name] : []));
  const summaries: PlanSummary[] = [];
  const problems: Diagnostic[] = [];
  let program = checked.program;
  for (const name of names) {
    const r = compile(file, name);
    program = r.program;
    if (!r.module || !r.lowered) problems.push(...r.diagnostics);
    else summaries.push(summarize(r.module, r.lowered.config));
  }
  if (names.length === 0 && checked.diagnostics.length === 0) process.stderr.write(`flexc: ${file} declares no plan\n`);
  if (problems.length || checked.diagnostics.some((d) => d.severity === 'error')) {
    const seen = new Set<string>();
    const unique = [...checked.diagnostics, ...problems].filter((d) => {
      const key = `${d.code}:${d.span.file}:${d.span.line}:${d.span.column}:${d.message}`;
      return !seen.has(key) && (seen.add(key), true);
    });
    printDiagnostics(unique, program, false);
    process.exitCode = EXIT.user;
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ file, plans: summaries }, null, 2)}\n`);
  else for (const s of summaries) process.stdout.write(`${humanLine(s)}\n`);
}

const fmtFlops = (n: number) => {
  const units = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
  let k = 0;
  while (n >= 1000 && k < units.length - 1) (n /= 1000), k++;
  return n === 0 ? '0 FLOP' : `${n.toPrecision(3)} ${units[k]}FLOP`;
};

function humanLine(s: PlanSummary): string {
  const g = s.memory.gpu;
  const budget = s.budget_bytes === null ? 'no budget' : `budget ${fmtBytes(s.budget_bytes)}`;
  const mem = g.peak_bytes === g.peak_bytes_without_checkpointing ? `GPU peak ${fmtBytes(g.peak_bytes)}` : `GPU peak ${fmtBytes(g.peak_bytes_without_checkpointing)} without checkpointing, ${fmtBytes(g.peak_bytes)} with`;
  const ck = s.task === 'train' ? `; checkpoint ${s.checkpoint}: recompute ${fmtFlops(s.flops.recompute)} (${s.flops.recompute_percent.toFixed(1)}% of ${fmtFlops(s.flops.step)} per step)` : `; ${fmtFlops(s.flops.step)} per step`;
  return `plan ${s.plan} (${s.task}): ${mem} (${budget})${ck}`;
}
