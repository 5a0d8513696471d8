import { existsSync } from 'node:fs';
import { diag, DiagnosticError, type Diagnostic, type Span } from '../../grammar/diagnostics.ts';
import { compile, type CompileResult } from '../compile.ts';
import { accuracy } from '../interp/session.ts';
import { cpuPlanTrainer, cpuTrainer, nativeTrainer, webgpuTrainer, type Trainer } from './trainers.ts';
import { TARGETS } from '../targets/registry.ts';
import { ToolchainError } from '../targets/compile.ts';
import { NoCudaDeviceError } from '../../runtime/native/session.ts';
import { RanksError } from '../../runtime/native/nccl.ts';
import { BudgetError, StepTimeLimitError } from '../../runtime/webgpu/session.ts';
import { CollectivesError, DeviceLimitError } from '../codegen/plan.ts';
import { NoGpuError } from '../../runtime/webgpu/device.ts';
import type { Module } from '../ir/graph.ts';
import { IndexOutOfRange } from '../ir/op.ts';
import { lowerPlan } from '../lower/lower.ts';
import { pipelinePlan } from '../plan-pipeline.ts';
import { graphResolver, sizedGraphRead } from '../sema/graph-decl.ts';

export { graphResolver };
import { loadGraph, DataError } from '../../runtime/data/graph.ts';
import { graphsRead } from '../../runtime/data/graph-spec.ts';
import { loadText } from '../../runtime/data/text.ts';
import { rng } from '../../runtime/init.ts';
import { resolve } from 'node:path';
import type { PlanConfig } from '../sema/plan.ts';
import { printDiagnostics } from './diagnostics-out.ts';
import { EXIT } from './exit.ts';

const BACKENDS = ['cpu', 'webgpu', 'native', 'cuda'];

/** The evaluation graph of a compiled plan: the same model with dropout off and no backward pass. */
export function evalModule(r: CompileResult): { module?: Module; diagnostics: Diagnostic[] } {
  if (!r.plan) throw new Error('internal: evalModule needs a compiled plan');
  const low = lowerPlan(r.program, r.plan.decl, r.plan.resolved, { evaluation: true });
  if (!low.lowered) return { diagnostics: low.diagnostics };
  // the plan's budgets hold for its evaluation too, in the blocks the training step was cut into (`blocks: auto`
  // chose them once)
  const config = { ...low.lowered.config, blocks: r.lowered?.config.blocks ?? low.lowered.config.blocks };
  const ev = pipelinePlan(r.plan.decl, low.lowered.forward, config, {
    hardware: low.lowered.hardware,
    graphs: graphResolver(r.program),
  });
  const error = ev.diagnostics.find((d) => d.severity === 'error');
  if (error) throw new DiagnosticError(error);
  return ev;
}

export interface RunOptions {
  plan?: string;
  backend: string;
  steps?: number;
  json?: boolean;
  sample?: number;
  poison?: boolean;
  /** Seconds a WebGPU step may run. */
  timeLimit?: number;
}

export async function runCommand(file: string, o: RunOptions): Promise<void> {
  if (!existsSync(file)) {
    process.stderr.write(`flexc: no such file: ${file}\n`);
    process.exit(EXIT.usage);
  }
  if (!BACKENDS.includes(o.backend)) {
    process.stderr.write(`flexc: unknown backend \`${o.backend}\`; available: ${BACKENDS.join(', ')}\n`);
    process.exit(EXIT.usage);
  }
  if (o.timeLimit !== undefined && o.backend !== 'webgpu') {
    process.stderr.write('flexc: --time-limit applies to --backend webgpu\n');
    process.exit(EXIT.usage);
  }
  const r = compile(file, o.plan);
  if (!r.module || !r.lowered) {
    printDiagnostics(r.diagnostics, r.program, o.json === true);
    process.exitCode = EXIT.user;
    return;
  }
  const config = r.lowered.config;
  if (config.precision !== 'fp32' && o.backend !== 'cpu') {
    // the kernels of every target compute in fp32 (as `flexc build` says, FLX7004)
    const field = r.plan!.decl.fields.find((f) => f.key.name === 'precision') ?? r.plan!.decl.name;
    const message = `plan \`${config.name}\` computes in ${config.precision}, but the kernels compute in fp32`;
    printDiagnostics(
      [diag('FLX7004', field.span, message, 'run it with `--backend cpu` (the interpreter emulates half precision)')],
      r.program,
      o.json === true,
    );
    process.exitCode = EXIT.user;
    return;
  }
  const sized = sizedGraphRead(r.program, r.module);
  if (sized) {
    printDiagnostics([sized], r.program, o.json === true);
    process.exitCode = EXIT.user;
    return;
  }
  const graphs = graphResolver(r.program);
  let trainer: Trainer | undefined;
  try {
    trainer =
      o.backend === 'webgpu'
        ? await webgpuTrainer(r.module, config, graphs, {
            ...(o.poison ? { poison: true } : {}),
            ...(o.timeLimit !== undefined ? { timeLimitSeconds: o.timeLimit } : {}),
          })
        : o.backend === 'native' || o.backend === 'cuda'
          ? await nativeTrainer(
              o.backend === 'native' ? TARGETS.c : TARGETS.cuda,
              r.module,
              config,
              graphs,
              o.poison ? { poison: true } : {},
            )
          : o.poison
            ? cpuPlanTrainer(r.module, config, graphs)
            : cpuTrainer(r.module, config, graphs);
    const train = config.task.kind === 'train';
    const steps = train ? (o.steps ?? config.steps) : 1;
    const lossName = config.task.kind === 'train' ? config.task.loss : undefined;
    const losses: number[] = [];
    const quiet = trainer.quiet === true;
    const tty = process.stderr.isTTY === true && !o.json && !quiet;
    if (!o.json && !quiet) process.stderr.write(`${config.name} on ${trainer.backend}\n`);
    const t0 = performance.now();
    for (let s = 1; s <= steps; s++) {
      const loss = await trainer.step(lossName);
      if (lossName && !Number.isFinite(loss)) throw nonFinite(trainer, loss, s, r.plan!.decl.name.span);
      losses.push(loss);
      const rate = s / ((performance.now() - t0) / 1000);
      const line =
        `step ${String(s).padStart(String(steps).length)}/${steps}  ` +
        `${lossName ? `loss ${loss.toFixed(4)}  ` : ''}${rate.toFixed(2)} steps/s`;
      if (tty) {
        const width = 24;
        const done = Math.round((s / steps) * width);
        process.stderr.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${line}`);
        if (s === steps) process.stderr.write('\n');
      } else if (!o.json && !quiet) process.stdout.write(`${line}\n`);
    }
    const metrics: Record<string, number> = {};
    if (lossName) metrics['loss'] = losses.at(-1)!;
    metrics['steps_per_second'] = steps / ((performance.now() - t0) / 1000);
    Object.assign(metrics, trainer.measured?.());
    Object.assign(metrics, await graphAccuracies(r, trainer, r.module));
    if (config.data && lossName) Object.assign(metrics, await validationLoss(r, trainer, lossName));
    const sample = o.sample && config.data ? await sampleText(r, trainer, config, o.sample) : undefined;
    if (o.json)
      process.stdout.write(
        `${JSON.stringify({ metrics, losses, ...(sample !== undefined ? { sample } : {}) }, null, 2)}\n`,
      );
    else {
      for (const [k, v] of Object.entries(metrics)) process.stdout.write(`${k}: ${Number(v.toFixed(4))}\n`);
      if (sample !== undefined) process.stdout.write(`sample:\n${sample}\n`);
    }
  } catch (e) {
    const user = userError(e, r.plan!.decl.name.span);
    if (!user) throw e;
    printDiagnostics([user], r.program, o.json === true);
    process.exitCode = EXIT.user;
  } finally {
    trainer?.close();
  }
}

/** A loss that is NaN or infinite stops the run, at the op that made the first such number if the backend can tell. */
function nonFinite(trainer: Trainer, loss: number, step: number, plan: Span): DiagnosticError {
  const v = trainer.firstNonFinite?.();
  const what = `the loss is ${loss} at step ${step}`;
  if (!v?.loc)
    return new DiagnosticError(
      diag('FLX6005', plan, what, trainer.backend === 'cpu' ? undefined : 'run with --backend cpu to find the op'),
    );
  return new DiagnosticError(
    diag(
      'FLX6005',
      { ...v.loc },
      `${what}: \`${v.op}\`${v.name ? ` (${v.name})` : ''} here produced the first NaN or infinity`,
      'check the numbers this op is given (a log of 0, a division by 0, an overflow)',
    ),
  );
}

/** Errors caused by the input, the data or the machine, as diagnostics at the plan run; undefined for bugs. */
function userError(e: unknown, plan: Span): Diagnostic | undefined {
  if (e instanceof DiagnosticError) return e.diagnostic;
  if (e instanceof DataError) return diag('FLX6002', plan, e.message);
  if (e instanceof IndexOutOfRange)
    return diag('FLX6003', plan, e.message, 'an index in the input data is outside the tensor it selects from');
  // a typed array or buffer the host cannot allocate
  if (e instanceof RangeError && /allocation failed|Invalid typed array length|Array buffer/i.test(e.message))
    return diag('FLX7007', plan, `the run needs more host memory than this machine gives it (${e.message})`);
  if (e instanceof BudgetError) return diag('FLX7001', plan, e.message);
  if (e instanceof StepTimeLimitError) return diag('FLX7008', plan, e.message, 'raise it with --time-limit <seconds>');
  if (e instanceof DeviceLimitError) return diag('FLX7003', plan, e.message);
  if (e instanceof CollectivesError)
    return diag('FLX7011', plan, e.message, 'run it with --backend cpu, webgpu or native, or on CUDA ranks');
  if (e instanceof NoGpuError) return diag('FLX7002', plan, e.message);
  if (e instanceof ToolchainError && e.hint) return diag('FLX7009', plan, e.message, e.hint);
  if (e instanceof NoCudaDeviceError) return diag('FLX7010', plan, e.message, 'train with --backend native or webgpu');
  if (e instanceof RanksError) return diag('FLX7012', plan, e.message, e.hint);
  return undefined;
}

const VAL_BATCHES = 10;

/** Generates `n` characters after a newline, sampling each from the model's `logits` at the last position (seeded). */
async function sampleText(r: CompileResult, trainer: Trainer, config: PlanConfig, n: number): Promise<string> {
  const ev = evalModule(r);
  const tokensIn = ev.module?.values.find((v) => v.op === 'input' && v.attrs['name'] === 'tokens');
  if (!ev.module || !tokensIn || !ev.module.outputs.some((o) => o.name === 'logits')) return '';
  const [b, t] = tokensIn.type.shape as [number, number];
  const { vocab } = loadText(resolve(config.data!.file));
  const run = await trainer.forward(ev.module, 'logits');
  const next = rng(config.seed + 12345);
  const ids = [vocab.indexOf('\n')];
  for (let k = 0; k < n; k++) {
    const window = ids.slice(-t);
    const tokens = new Int32Array(b * t);
    tokens.set(window);
    const logits = await run(new Map([['tokens', tokens]]));
    const v = logits.shape.at(-1)!;
    const row = Array.from(logits.data.slice((window.length - 1) * v, window.length * v));
    const mx = Math.max(...row);
    const p = row.map((x) => Math.exp(x - mx));
    let u = next() * p.reduce((a, x) => a + x, 0);
    let c = 0;
    while (c < v - 1 && (u -= p[c]!) > 0) c++;
    ids.push(c);
  }
  return ids
    .slice(1)
    .map((i) => vocab[i])
    .join('');
}

/** Mean loss over validation batches of the plan's text (dropout off). */
async function validationLoss(r: CompileResult, trainer: Trainer, loss: string): Promise<Record<string, number>> {
  const ev = evalModule(r);
  if (!ev.module?.outputs.some((o) => o.name === loss)) return {};
  const outs = await trainer.evaluate(ev.module, loss, VAL_BATCHES);
  return { val_loss: outs.reduce((a, t) => a + t.data[0]!, 0) / outs.length };
}

/** For a model on a labelled graph with a `logits` output: accuracy on each split, dropout off. */
async function graphAccuracies(r: CompileResult, trainer: Trainer, train: Module): Promise<Record<string, number>> {
  const [gname] = graphsRead(train);
  if (gname === undefined) return {};
  const ev = evalModule(r);
  if (!ev.module?.outputs.some((o) => o.name === 'logits')) return {};
  const [logits] = await trainer.evaluate(ev.module, 'logits');
  const g = loadGraph(graphResolver(r.program)(gname));
  if (!logits || logits.shape[0] !== g.nodes) return {};
  return {
    train_accuracy: accuracy(logits, g.labels, g.split.train),
    val_accuracy: accuracy(logits, g.labels, g.split.val),
    test_accuracy: accuracy(logits, g.labels, g.split.test),
  };
}
