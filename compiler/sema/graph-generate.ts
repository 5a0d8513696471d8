import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type * as A from '../../grammar/ast.ts';
import { didYouMean, fail } from '../../grammar/diagnostics.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';
import { generateSbm, SBM_DEFAULTS, SBM_FILES, type SbmSpec } from '../../runtime/data/sbm.ts';

/** Arguments of `generate: sbm(…)`, each with what it accepts. */
const ARGS: Record<string, { whole: boolean; min: number; max?: number; open?: boolean }> = {
  classes: { whole: true, min: 2 },
  edges: { whole: true, min: 1 },
  features: { whole: true, min: 1 },
  homophily: { whole: false, min: 0, max: 1 },
  power: { whole: false, min: 2, open: true },
  signal: { whole: false, min: 0 },
  density: { whole: false, min: 0, max: 1, open: true },
  seed: { whole: true, min: 0 },
  train: { whole: true, min: 1 },
  val: { whole: true, min: 0 },
  test: { whole: true, min: 0 },
};
const REQUIRED = ['classes', 'edges', 'features'];
/** Bump when the generator's output changes, so cached graphs are made again. */
const GENERATOR_VERSION = 1;

/** Where generated graphs are kept: `$XDG_CACHE_HOME/flexc/graphs` (else ~/.cache/flexc/graphs), one folder each. */
export const graphCache = () => join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'flexc', 'graphs');

/**
 * `generate: sbm(classes: …, edges: …, features: …, …)` in a graph of `nodes` nodes: the spec checked, the graph
 * generated into the cache on first use (same arguments, same files), and the graph spec pointing at its files.
 */
export function generatedGraph(name: string, nodes: number, item: A.GraphItem): GraphSpec {
  const call = item.value;
  if (call?.kind !== 'call' || call.callee.kind !== 'name' || call.callee.name !== 'sbm')
    fail(
      'FLX4005',
      (call ?? item).span,
      'a graph is generated with `generate: sbm(classes: …, edges: …, features: …)`',
    );
  const got: Record<string, number> = {};
  for (const a of call.args) {
    if (!a.name) fail('FLX3011', a.value.span, '`sbm` takes named arguments, e.g. `sbm(classes: 8, edges: 100000, …)`');
    const spec = ARGS[a.name.name];
    if (!spec)
      fail(
        'FLX3011',
        a.name.span,
        `\`sbm\` has no argument \`${a.name.name}\``,
        didYouMean(a.name.name, Object.keys(ARGS)) ?? `its arguments are ${Object.keys(ARGS).join(', ')}`,
      );
    const v = a.value.kind === 'number' && !a.value.unit ? a.value.value : NaN;
    const ok =
      Number.isFinite(v) &&
      (!spec.whole || Number.isInteger(v)) &&
      (spec.open ? v > spec.min : v >= spec.min) &&
      (spec.max === undefined || (spec.open ? v < spec.max : v <= spec.max));
    if (!ok) {
      const upper = spec.max !== undefined ? ` and ${spec.open ? '<' : '≤'} ${spec.max}` : '';
      const range = `${spec.open ? '>' : '≥'} ${spec.min}${upper}`;
      fail('FLX4005', a.value.span, `\`${a.name.name}\` is a ${spec.whole ? 'whole ' : ''}number ${range}`);
    }
    got[a.name.name] = v;
  }
  for (const r of REQUIRED) if (got[r] === undefined) fail('FLX3011', call.span, `\`sbm\` needs \`${r}: …\``);
  if (got['classes']! > nodes) fail('FLX4005', call.span, `${got['classes']} classes need at least as many nodes`);
  const spec: SbmSpec = { ...SBM_DEFAULTS, ...got, nodes } as SbmSpec;
  const key = createHash('sha256')
    .update(JSON.stringify({ v: GENERATOR_VERSION, spec }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(graphCache(), `sbm-${key}`);
  generateSbm(spec, dir);
  const file = (f: string) => join(dir, f);
  return {
    name,
    nodes,
    features:
      spec.density === undefined
        ? { dense: file(SBM_FILES.dense), dim: spec.features, normalize: 'none' }
        : { indptr: file(SBM_FILES.indptr), indices: file(SBM_FILES.indices), dim: spec.features, normalize: 'row' },
    edges: { file: file(SBM_FILES.edges) },
    labels: { file: file(SBM_FILES.labels) },
    split: { file: file(SBM_FILES.meta) },
  };
}
