import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { mapGraphPaths, type GraphSpec } from './data/graph-spec.ts';
import { parsePlan, PlanError, type Plan } from './plan.ts';
import { FileReadError, readRegularFile } from './read-file.ts';
import type { TextSpec } from './data/text.ts';
import { checkKernels } from './validate-plan.ts';

/** The largest plan.json and kernel file read from a build. */
const MAX_PLAN_BYTES = 256 * 2 ** 20;
const MAX_KERNEL_BYTES = 2 ** 20;

/** A build as the runtime opens it: the plan, its kernels' sources, its data, and its compiled library if any. */
export interface LoadedBuild {
  plan: Plan;
  sources: (name: string) => string;
  graphs: (name: string) => GraphSpec;
  text?: TextSpec;
  /** The absolute path of the plan's shared library (targets `c` and `cuda`). */
  library?: string;
}

/**
 * Reads a build directory written by `flexc build`: the validated plan (`plan.json`, or another
 * plan file of the build such as `forward.json`) and its kernel sources, each a regular file inside
 * the build (links followed), checked against the launches that use it. Paths are relative to it.
 * Anything missing, malformed or inconsistent is a PlanError naming it.
 */
export function loadBuild(dir: string, planFile = 'plan.json'): LoadedBuild {
  const read = (file: string, limit: number) => {
    try {
      return readRegularFile(join(dir, file), limit, { within: [dir], shown: file, place: 'the build' }).toString(
        'utf8',
      );
    } catch (e) {
      if (e instanceof FileReadError) throw new PlanError(`invalid build ${dir}: ${e.message}`);
      throw e;
    }
  };
  let json: unknown;
  try {
    json = JSON.parse(read(planFile, MAX_PLAN_BYTES));
  } catch (e) {
    if (e instanceof SyntaxError) throw new PlanError(`invalid build ${dir}: ${planFile} is not JSON (${e.message})`);
    throw e;
  }
  const plan = parsePlan(json);
  const code = new Map(plan.kernels.map((k) => [k.name, read(k.file, MAX_KERNEL_BYTES)]));
  const sources = (name: string) => code.get(name) ?? '';
  checkKernels(plan, sources);
  const at = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const graphs = (name: string): GraphSpec => mapGraphPaths(plan.graphs[name] as GraphSpec, at);
  const text = plan.text ? { ...plan.text, file: at(plan.text.file) } : undefined;
  let library: string | undefined;
  if (plan.library !== undefined) {
    library = resolve(dir, plan.library);
    if (!existsSync(library))
      throw new PlanError(
        `invalid build ${dir}: ${plan.library} is missing (built with --no-compile? compile ` +
          `${plan.library.replace(/^lib/, '').replace(/\.so$/, plan.target === 'cuda' ? '.cu with nvcc' : '.c')} ` +
          'there, or rebuild)',
      );
  }
  return { plan, sources, graphs, ...(text ? { text } : {}), ...(library ? { library } : {}) };
}
