/** Where a data graph's arrays come from: plain data, shared by the compiler (sizes) and the runtime (loading). */
export interface GraphSpec {
  name: string;
  nodes: number;
  features?:
    | { indptr: string; indices: string; dim: number; normalize: 'row' | 'none' }
    | { dense: string; dim: number; normalize: 'row' | 'none' };
  edges?: { file: string };
  labels?: { file: string };
  split?: { file: string };
  /** A graph declared by its sizes alone (no files): it can be checked and planned, not run. */
  sizes?: GraphSizesSpec;
}

/** The sizes of a graph without data: edges as (src, dst) entries without self loops, dense feature columns. */
export interface GraphSizesSpec {
  edges: number;
  features: number;
  split: { train: number; val: number; test: number };
}

/** Feed keys of the tensors a graph provides. */
export const GRAPH_FEEDS = [
  'features',
  'feat.indptr',
  'feat.indices',
  'feat.values',
  'featT.indptr',
  'featT.indices',
  'featT.values',
  'featT.perm',
  'labels',
  'adj.indptr',
  'adj.indices',
  'adj.values',
  'adj.rows',
  'adjT.indptr',
  'adjT.indices',
  'adjT.values',
  'adjT.perm',
  'mean.indptr',
  'mean.indices',
  'mean.values',
  'meanT.indptr',
  'meanT.indices',
  'meanT.values',
  'split.train',
  'split.val',
  'split.test',
] as const;
export type GraphFeed = (typeof GRAPH_FEEDS)[number];

/** The graph and feed key an input's `feed` attribute names (`graph:<name>/<key>`), or undefined for another feed. */
export function graphFeedOf(feed: unknown): { graph: string; key: string } | undefined {
  const m = typeof feed === 'string' ? /^graph:([^/]+)\/(.+)$/.exec(feed) : null;
  return m ? { graph: m[1]!, key: m[2]! } : undefined;
}

/** The graphs a module's inputs read, in the order they first appear. */
export function graphsRead(m: { values: readonly { attrs: Record<string, unknown> }[] }): string[] {
  return [...new Set(m.values.flatMap((v) => graphFeedOf(v.attrs['feed'])?.graph ?? []))];
}

/** The same spec with every file path passed through `f` (made relative for a build, absolute when loading one). */
export function mapGraphPaths(g: GraphSpec, f: (p: string) => string): GraphSpec {
  const feat = g.features;
  const out: GraphSpec = { name: g.name, nodes: g.nodes };
  if (feat)
    out.features =
      'indptr' in feat
        ? { ...feat, indptr: f(feat.indptr), indices: f(feat.indices) }
        : { ...feat, dense: f(feat.dense) };
  if (g.edges) out.edges = { file: f(g.edges.file) };
  if (g.labels) out.labels = { file: f(g.labels.file) };
  if (g.split) out.split = { file: f(g.split.file) };
  if (g.sizes) out.sizes = g.sizes;
  return out;
}
