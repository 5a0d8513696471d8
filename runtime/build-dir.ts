import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { mapGraphPaths, type GraphSpec } from './data/graph-spec.ts';
import { parsePlan, type Plan } from './plan.ts';
import type { TextSpec } from './data/text.ts';

/**
 * Reads a build directory written by `flexc build`: the validated plan (`plan.json`, or another
 * plan file of the build such as `forward.json`) and its kernel sources. Paths are relative to it.
 */
export function loadBuild(
  dir: string,
  planFile = 'plan.json',
): { plan: Plan; sources: (name: string) => string; graphs: (name: string) => GraphSpec; text?: TextSpec } {
  const plan = parsePlan(JSON.parse(readFileSync(join(dir, planFile), 'utf8')));
  const files = new Map(plan.kernels.map((k) => [k.name, k.file]));
  const at = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const graphs = (name: string): GraphSpec => mapGraphPaths(plan.graphs[name] as GraphSpec, at);
  const text = plan.text ? { ...plan.text, file: at(plan.text.file) } : undefined;
  return {
    plan,
    sources: (name) => readFileSync(join(dir, files.get(name)!), 'utf8'),
    graphs,
    ...(text ? { text } : {}),
  };
}
