import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { compile } from '../compile.ts';
import { generateDriver } from '../codegen/driver.ts';
import { buildPlan } from '../codegen/plan.ts';
import { planReport } from '../codegen/report.ts';
import { packageRoot } from '../paths.ts';
import { mapGraphPaths, type GraphSpec } from '../../runtime/data/graph-spec.ts';
import { printDiagnostics } from './diagnostics-out.ts';
import { EXIT } from './exit.ts';
import { graphResolver } from './run.ts';

export interface BuildResult {
  dir: string;
  files: string[];
}

/** Paths in the plan relative to the build directory, so that the output does not depend on where it was built from. */
function relativeGraph(g: GraphSpec, dir: string): GraphSpec {
  return mapGraphPaths(g, (p) => relative(dir, p).split(sep).join('/'));
}

/**
 * `flexc build`: writes OUT/<plan>/ with plan.json, kernels/*.wgsl, driver.ts and report.txt. The
 * directory is assembled beside its destination and renamed into place, so a failed build leaves the
 * previous output intact.
 */
export function buildCommand(file: string, o: { plan?: string; out: string; target: string }): BuildResult | undefined {
  if (!existsSync(file)) {
    process.stderr.write(`flexc: no such file: ${file}\n`);
    process.exit(EXIT.usage);
  }
  if (o.target !== 'wgsl') {
    process.stderr.write(`flexc: target \`${o.target}\` is not built yet; available: wgsl\n`);
    process.exit(EXIT.usage);
  }
  const r = compile(file, o.plan);
  if (!r.module || !r.lowered) {
    printDiagnostics(r.diagnostics, r.program, false);
    process.exitCode = EXIT.user;
    return undefined;
  }
  const config = r.lowered.config;
  const final = resolve(o.out, config.name);
  const graphs = graphResolver(r.program);
  const used: Record<string, GraphSpec> = {};
  for (const v of r.module.values) {
    const f = v.attrs['feed'];
    if (typeof f === 'string' && f.startsWith('graph:')) used[f.slice(6).split('/')[0]!] = relativeGraph(graphs(f.slice(6).split('/')[0]!), final);
  }
  const { plan, sources } = buildPlan(r.module, config, used, { textPath: (f) => relative(final, resolve(f)).split(sep).join('/') });
  const api = relative(final, join(packageRoot(), 'runtime', 'index.ts')).split(sep).join('/');
  const driver = generateDriver(plan, { api: api.startsWith('.') ? api : `./${api}`, source: r.program.entry.path, task: config.task.kind });
  const files: [string, string][] = [
    ['plan.json', JSON.stringify(plan, null, 2) + '\n'],
    ...plan.kernels.map((k) => [k.file, sources.get(k.name)!] as [string, string]),
    ['driver.ts', driver.text],
    ['report.txt', planReport(plan, r.program.entry.path)],
  ];
  mkdirSync(dirname(final), { recursive: true });
  const tmp = `${final}.tmp-${process.pid}`;
  const old = `${final}.old-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    for (const [name, text] of files) {
      mkdirSync(dirname(join(tmp, name)), { recursive: true });
      writeFileSync(join(tmp, name), text);
    }
    if (existsSync(final)) renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(final) && existsSync(old)) renameSync(old, final);
    throw e;
  }
  process.stderr.write(`built ${config.name}: ${plan.kernels.length} kernels, GPU arena ${plan.arenas.gpu} bytes, predicted peak ${plan.predictedPeakBytes} bytes → ${relative(process.cwd(), final) || '.'}\n`);
  return { dir: final, files: files.map(([n]) => n) };
}
