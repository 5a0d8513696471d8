import { existsSync } from 'node:fs';
import type { Diagnostic } from '../../grammar/diagnostics.ts';
import { DiagnosticError } from '../../grammar/diagnostics.ts';
import { compile } from '../compile.ts';
import { accuracy, CpuSession } from '../interp/session.ts';
import type { Module } from '../ir/graph.ts';
import { lowerPlan, selectPlan } from '../lower/lower.ts';
import { runPipeline } from '../passes/pipeline.ts';
import { graphSpecOf } from '../sema/graph-decl.ts';
import type { Program } from '../sema/program.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';
import { loadGraph, DataError } from '../../runtime/data/graph.ts';
import { printDiagnostics } from './diagnostics-out.ts';
import { EXIT } from './exit.ts';

const BACKENDS = ['cpu'];

export function graphResolver(program: Program): (name: string) => GraphSpec {
  return (name) => {
    for (const f of program.files.values())
      for (const d of f.ast.decls) if (d.kind === 'graph' && d.name.name === name) return graphSpecOf(d, f);
    throw new Error(`internal: no graph ${name}`);
  };
}

/** The evaluation graph of a plan: the same model with dropout off and no backward pass. */
export function evalModule(program: Program, planName: string | undefined): { module?: Module; diagnostics: Diagnostic[] } {
  const sel = selectPlan(program, planName);
  if (!sel.plan) return { diagnostics: sel.diagnostics };
  const low = lowerPlan(program, sel.plan, { evaluation: true });
  if (!low.lowered) return { diagnostics: low.diagnostics };
  return { module: runPipeline(low.lowered.forward, { config: low.lowered.config }), diagnostics: [] };
}

export function runCommand(file: string, o: { plan?: string; backend: string; steps?: number; json?: boolean }): void {
  if (!existsSync(file)) {
    process.stderr.write(`flexc: no such file: ${file}\n`);
    process.exit(EXIT.usage);
  }
  if (!BACKENDS.includes(o.backend)) {
    process.stderr.write(`flexc: unknown backend \`${o.backend}\`; available: ${BACKENDS.join(', ')}\n`);
    process.exit(EXIT.usage);
  }
  const r = compile(file, o.plan);
  if (!r.module || !r.lowered) {
    printDiagnostics(r.diagnostics, r.program, o.json === true);
    process.exitCode = EXIT.user;
    return;
  }
  const config = r.lowered.config;
  const graphs = graphResolver(r.program);
  try {
    const session = new CpuSession(r.module, { seed: config.seed, graphs });
    const train = config.task.kind === 'train';
    const steps = train ? (o.steps ?? config.steps) : 1;
    const lossName = config.task.kind === 'train' ? config.task.loss : undefined;
    const losses: number[] = [];
    const tty = process.stderr.isTTY === true && !o.json;
    const t0 = performance.now();
    for (let s = 1; s <= steps; s++) {
      const out = session.run();
      const loss = lossName ? out.get(lossName)!.data[0]! : NaN;
      losses.push(loss);
      const rate = s / ((performance.now() - t0) / 1000);
      const line = `step ${String(s).padStart(String(steps).length)}/${steps}  loss ${loss.toFixed(4)}  ${rate.toFixed(2)} steps/s`;
      if (tty) {
        const width = 24;
        const done = Math.round((s / steps) * width);
        process.stderr.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${line}`);
        if (s === steps) process.stderr.write('\n');
      } else if (!o.json) process.stdout.write(`${line}\n`);
    }
    const metrics: Record<string, number> = {};
    if (lossName) metrics['loss'] = losses.at(-1)!;
    metrics['steps_per_second'] = steps / ((performance.now() - t0) / 1000);
    Object.assign(metrics, graphAccuracies(r.program, o.plan, session, r.module));
    if (o.json) process.stdout.write(JSON.stringify({ metrics, losses }, null, 2) + '\n');
    else for (const [k, v] of Object.entries(metrics)) process.stdout.write(`${k}: ${Number(v.toFixed(4))}\n`);
  } catch (e) {
    if (e instanceof DataError) {
      process.stderr.write(`error[FLX6002]: ${e.message}\n`);
      process.exitCode = EXIT.user;
      return;
    }
    if (e instanceof RangeError) {
      process.stderr.write(`error[FLX6003]: ${e.message}\n  = hint: an index in the input data is outside the tensor it selects from\n`);
      process.exitCode = EXIT.user;
      return;
    }
    if (e instanceof DiagnosticError) {
      printDiagnostics([e.diagnostic], r.program, o.json === true);
      process.exitCode = EXIT.user;
      return;
    }
    throw e;
  }
}

/** For a model on a labelled graph with a `logits` output: accuracy on each split, dropout off. */
function graphAccuracies(program: Program, plan: string | undefined, session: CpuSession, train: Module): Record<string, number> {
  const feeds = train.values.filter((v) => v.op === 'input' && typeof v.attrs['feed'] === 'string' && String(v.attrs['feed']).startsWith('graph:'));
  if (!feeds.length) return {};
  const ev = evalModule(program, plan);
  if (!ev.module?.outputs.some((o) => o.name === 'logits')) return {};
  const logits = session.evaluate(ev.module).get('logits')!;
  const gname = String(feeds[0]!.attrs['feed']).slice(6).split('/')[0]!;
  const g = loadGraph(graphResolver(program)(gname));
  if (logits.shape[0] !== g.nodes) return {};
  return { train_accuracy: accuracy(logits, g.labels, g.split.train), val_accuracy: accuracy(logits, g.labels, g.split.val), test_accuracy: accuracy(logits, g.labels, g.split.test) };
}
