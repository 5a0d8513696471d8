import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { compile } from '../compile.ts';
import { generateDriver, type DriverEmit } from '../codegen/driver.ts';
import {
  buildPlan,
  CollectivesError,
  DeviceLimitError,
  FORWARD_LIBRARY,
  hostOf,
  type BuiltPlan,
  type DeviceLimits,
} from '../codegen/plan.ts';
import { compileIn, ToolchainError } from '../targets/compile.ts';
import { TARGET_NAMES, targetOf } from '../targets/registry.ts';
import { planReport } from '../codegen/report.ts';
import type { DeviceClass } from '../kernel/lower/common.ts';
import { diag, DiagnosticError } from '../../grammar/diagnostics.ts';
import { selectPlan } from '../lower/lower.ts';
import { graphsRead, mapGraphPaths, type GraphSpec } from '../../runtime/data/graph-spec.ts';
import { printDiagnostics } from './diagnostics-out.ts';
import { EXIT } from './exit.ts';
import { evalModule, graphResolver } from './run.ts';
import { sizedGraphRead } from '../sema/graph-decl.ts';

export interface BuildResult {
  dir: string;
  files: string[];
}

/** Paths in the plan relative to the build directory, so that the output does not depend on where it was built from. */
function relativeGraph(g: GraphSpec, dir: string): GraphSpec {
  return mapGraphPaths(g, (p) => relative(dir, p).split(sep).join('/'));
}

export interface BuildOptions {
  plan?: string;
  out: string;
  /** The kernels' language; the plan's `target` unless given. */
  target?: string;
  /** Write the sources of a compiled target without compiling them (commander's --no-compile). */
  compile?: boolean;
  /** CUDA architectures, e.g. `sm_80,sm_90`. */
  arch?: string;
  deviceClass?: DeviceClass;
  maxBufferSize?: number;
  maxBindingSize?: number;
  emit?: DriverEmit;
  /** Print `{"dir", "files", …}` (or `{"diagnostics"}`) on stdout. */
  json?: boolean;
}

/**
 * What a folder holds: `built` from a source (plan.json's `source`, relative to the folder; a build
 * by an older flexc names none) or `foreign` (no plan.json: not a build).
 */
function heldBy(dir: string): { built: string | undefined } | 'foreign' {
  let json: string;
  try {
    json = readFileSync(join(dir, 'plan.json'), 'utf8');
  } catch {
    return 'foreign';
  }
  try {
    const source = (JSON.parse(json) as { source?: unknown }).source;
    return { built: typeof source === 'string' ? resolve(dir, source) : undefined };
  } catch {
    return 'foreign';
  }
}

/**
 * `flexc build`: writes OUT/<plan>/ with plan.json (and, for a train plan, forward.json: its
 * evaluation plan), kernels/*.wgsl, driver.ts and report.txt. The directory is assembled beside its
 * destination and renamed into place, so a failed build leaves the previous output intact.
 */
export function buildCommand(file: string, o: BuildOptions): BuildResult | undefined {
  if (!existsSync(file)) {
    process.stderr.write(`flexc: no such file: ${file}\n`);
    process.exit(EXIT.usage);
  }
  if (o.target !== undefined && !targetOf(o.target)) {
    process.stderr.write(`flexc: unknown target \`${o.target}\`; available: ${TARGET_NAMES.join(', ')}\n`);
    process.exit(EXIT.usage);
  }
  const arch = o.arch?.split(',').map((a) => a.trim());
  if (arch?.some((a) => !/^sm_\d{2,3}[a-z]?$/.test(a))) {
    process.stderr.write(`flexc: --arch takes CUDA architectures such as sm_80,sm_90, not \`${o.arch}\`\n`);
    process.exit(EXIT.usage);
  }
  const r = compile(file, o.plan);
  if (!r.module || !r.lowered) {
    printDiagnostics(r.diagnostics, r.program, o.json === true);
    process.exitCode = EXIT.user;
    return undefined;
  }
  const config = r.lowered.config;
  if (config.precision !== 'fp32') {
    const decl = selectPlan(r.program, config.name).plan!;
    const field = decl.fields.find((f) => f.key.name === 'precision') ?? decl.name;
    printDiagnostics(
      [
        diag(
          'FLX7004',
          field.span,
          `plan \`${config.name}\` computes in ${config.precision}, but the kernels compute in fp32`,
          'build it with `precision: fp32`; `flexc plan` and `flexc run` ' +
            '(the CPU interpreter emulates half precision) take it as it is',
        ),
      ],
      r.program,
      o.json === true,
    );
    process.exitCode = EXIT.user;
    return undefined;
  }
  if (config.task.kind === 'infer' && config.task.serve && config.task.serve.decode > 0) {
    const decl = selectPlan(r.program, config.name).plan!;
    const field = decl.fields.find((f) => f.key.name === 'task') ?? decl.name;
    printDiagnostics(
      [
        diag(
          'FLX7005',
          field.span,
          `plan \`${config.name}\` decodes with a KV cache, and \`flexc build\` does not emit decode drivers yet`,
          "build the prompt's pass with `decode: 0`; `flexc plan` estimates " +
            'the whole request, and the CPU reference runs its decode steps',
        ),
      ],
      r.program,
      o.json === true,
    );
    process.exitCode = EXIT.user;
    return undefined;
  }
  const sized = sizedGraphRead(r.program, r.module);
  if (sized) {
    printDiagnostics([sized], r.program, o.json === true);
    process.exitCode = EXIT.user;
    return undefined;
  }
  const final = resolve(o.out, config.name);
  const source = resolve(r.program.entry.path);
  const held = existsSync(final) ? heldBy(final) : undefined;
  if (held === 'foreign' || (held?.built !== undefined && held.built !== source)) {
    const decl = selectPlan(r.program, config.name).plan!;
    const what =
      held === 'foreign'
        ? 'files that are not a flexc build'
        : `plan \`${config.name}\` of ${relative(process.cwd(), held.built!)}`;
    printDiagnostics(
      [
        diag(
          'FLX7006',
          decl.name.span,
          `${relative(process.cwd(), final) || '.'} holds ${what}; building this plan there would overwrite it`,
          `give this build its own folder, e.g. \`-o ` +
            `${join(o.out, r.program.entry.path.replace(/^.*[\\/]/, '').replace(/\.flex$/, ''))}\`, ` +
            `or delete the old one`,
        ),
      ],
      r.program,
      o.json === true,
    );
    process.exitCode = EXIT.user;
    return undefined;
  }
  const graphs = graphResolver(r.program);
  const used: Record<string, GraphSpec> = Object.fromEntries(
    graphsRead(r.module).map((g) => [g, relativeGraph(graphs(g), final)]),
  );
  const target = targetOf(o.target ?? config.target)!;
  const deviceClass = o.deviceClass ?? target.deviceClasses[0]!;
  if (!target.deviceClasses.includes(deviceClass)) {
    process.stderr.write(
      `flexc: target ${target.name} runs ${target.deviceClasses.join(' or ')}-class kernels, not ${deviceClass}\n`,
    );
    process.exit(EXIT.usage);
  }
  const limits: DeviceLimits = {
    maxBufferSize: o.maxBufferSize ?? target.limits.maxBufferSize,
    maxStorageBufferBindingSize: o.maxBindingSize ?? target.limits.maxStorageBufferBindingSize,
  };
  const planOpts = {
    target,
    deviceClass,
    limits,
    textPath: (f: string) => relative(final, resolve(f)).split(sep).join('/'),
  } as const;
  let built: BuiltPlan;
  let forward: BuiltPlan | undefined;
  try {
    built = buildPlan(r.module, config, used, planOpts);
    if (config.task.kind === 'train') {
      const ev = evalModule(r);
      if (ev.module) forward = buildPlan(ev.module, config, used, { ...planOpts, library: FORWARD_LIBRARY });
    }
  } catch (e) {
    if (e instanceof DiagnosticError) {
      // the evaluation step does not meet the plan's budgets
      printDiagnostics([e.diagnostic], r.program, o.json === true);
      process.exitCode = EXIT.user;
      return undefined;
    }
    if (e instanceof CollectivesError) {
      const at = selectPlan(r.program, config.name).plan!.name.span;
      const hint =
        '`flexc run` runs its ranks: simulated with --backend cpu, webgpu or native, one process per GPU with ' +
        '--backend cuda';
      printDiagnostics([diag('FLX7011', at, e.message, hint)], r.program, o.json === true);
      process.exitCode = EXIT.user;
      return undefined;
    }
    if (!(e instanceof DeviceLimitError)) throw e;
    const decl = selectPlan(r.program, config.name).plan!;
    printDiagnostics(
      [
        diag(
          'FLX7003',
          decl.name.span,
          `plan \`${config.name}\` does not fit the device: ${e.message}`,
          "give a larger device's limits with --max-buffer-size and --max-binding-size, or make the tensor smaller",
        ),
      ],
      r.program,
      o.json === true,
    );
    process.exitCode = EXIT.user;
    return undefined;
  }
  const sourceRel = relative(final, source).split(sep).join('/');
  const plan = { ...built.plan, source: sourceRel };
  const forwardPlan = forward ? { ...forward.plan, source: sourceRel } : undefined;
  const driver = generateDriver(plan, {
    source: r.program.entry.path,
    emit: o.emit ?? 'ts',
    ...(forwardPlan ? { forward: forwardPlan } : {}),
  });
  const kernelFiles = new Map<string, string>();
  for (const b of [built, forward])
    for (const k of b?.plan.kernels ?? []) kernelFiles.set(k.file, b!.sources.get(k.name)!);
  const hosts = [built.host, forward?.host].flatMap((h): [string, string][] => (h ? [[h.file, h.code]] : []));
  const files: [string, string][] = [
    ['plan.json', `${JSON.stringify(plan, null, 2)}\n`],
    ...(forwardPlan ? [['forward.json', `${JSON.stringify(forwardPlan, null, 2)}\n`] as [string, string]] : []),
    ...[...kernelFiles].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    ...hosts,
    ...driver.files,
    ['report.txt', planReport(plan, r.program.entry.path, forwardPlan, r.module.checkpoint)],
  ];
  const names = files.map(([n]) => n);
  mkdirSync(dirname(final), { recursive: true });
  recoverInterrupted(final);
  const tmp = `${final}.tmp-${process.pid}`;
  const old = `${final}.old-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    for (const [name, text] of files) {
      mkdirSync(dirname(join(tmp, name)), { recursive: true });
      writeFileSync(join(tmp, name), text);
    }
    if (o.compile !== false)
      for (const p of [plan, forwardPlan])
        if (p?.library) {
          compileIn(target, tmp, hostOf(p), p.library, arch ? { arch } : {});
          names.push(p.library);
        }
    if (existsSync(final)) renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(final) && existsSync(old)) renameSync(old, final);
    if (!(e instanceof ToolchainError) || !e.hint) throw e;
    const decl = selectPlan(r.program, config.name).plan!;
    const field = decl.fields.find((f) => f.key.name === 'target') ?? decl.name;
    printDiagnostics([diag('FLX7009', field.span, e.message, e.hint)], r.program, o.json === true);
    process.exitCode = EXIT.user;
    return undefined;
  }
  const ck = r.module.checkpoint;
  const ckLine =
    ck && ck.recomputeFlops > 0
      ? `; checkpoint ${ck.policy}: ${ck.bytesWithout} → ${ck.bytesWith} bytes, recompute ` +
        `${((100 * ck.recomputeFlops) / Math.max(1, ck.stepFlops)).toFixed(1)}% of the step's FLOPs`
      : '';
  const where = relative(process.cwd(), final) || '.';
  if (o.json) {
    const summary = {
      dir: where,
      plan: config.name,
      files: names,
      driver: driver.files[0]![0],
      target: plan.target,
      device_class: plan.deviceClass,
      kernels: kernelFiles.size,
      arena_bytes: plan.arenas.gpu,
      predicted_peak_bytes: plan.predictedPeakBytes,
    };
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else
    process.stderr.write(
      `built ${config.name} (${plan.target}, ${plan.deviceClass}-class kernels): ${kernelFiles.size} kernels, ` +
        `arena ${plan.arenas.gpu} bytes, predicted peak ${plan.predictedPeakBytes} bytes${ckLine} → ${where}\n`,
    );
  return { dir: final, files: names };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * What a build killed mid-way left beside `final`: its `.tmp-PID` folder (removed) and, if it was
 * killed between moving the old output aside and moving the new one in, the old output as
 * `.old-PID` (moved back). Folders of builds still running are left alone.
 */
export function recoverInterrupted(final: string): void {
  const base = basename(final);
  let names: string[];
  try {
    names = readdirSync(dirname(final));
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^(.*)\.(tmp|old)-(\d+)$/.exec(n);
    if (!m || m[1] !== base || alive(Number(m[3]))) continue;
    const path = join(dirname(final), n);
    if (m[2] === 'old' && !existsSync(final)) renameSync(path, final);
    else rmSync(path, { recursive: true, force: true });
  }
}
