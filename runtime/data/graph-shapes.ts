import { blockRanges, featureRanges } from './blocks.ts';
import { graphFeed, loadGraph } from './graph.ts';
import type { GraphFeed, GraphSizesSpec, GraphSpec } from './graph-spec.ts';

/** What the compiler reads of a graph: the type of each feed (whole or by block), never the data itself. */
export interface GraphShapes {
  nodes: number;
  /** The dtype and shape of the array a feed key names (`adj.indices`, `features@4:1`, `split.train@4:2:pos`). */
  feed(key: string): { dtype: 'f32' | 'i32'; shape: number[] };
  /** Entries of the feature CSR (`feat`) or the adjacency (`adj`) before node `row`: its row pointer. */
  before(matrix: 'feat' | 'adj', row: number): number;
}

/** The shapes of a graph: read from its files, or for a graph declared by its sizes, spread evenly over blocks. */
export function graphShapes(spec: GraphSpec): GraphShapes {
  if (spec.sizes) return sizedShapes(spec.nodes, spec.sizes);
  const g = loadGraph(spec);
  return {
    nodes: g.nodes,
    feed: (key) => {
      const t = graphFeed(g, key as GraphFeed);
      return { dtype: t.data instanceof Int32Array ? 'i32' : 'f32', shape: t.shape };
    },
    before: (matrix, row) => g[matrix].indptr[row]!,
  };
}

/**
 * A graph known by its sizes: the adjacency holds its edges plus a self loop per node (`mean` without them), features
 * are dense (every value stored), and a block of a matrix or split holds its share of entries in proportion to its
 * rows (times its columns): the sizes a plan needs, where a real graph's blocks would vary.
 */
function sizedShapes(n: number, s: GraphSizesSpec): GraphShapes {
  const F = s.features;
  const nnz: Record<string, number> = { adj: s.edges + n, adjT: s.edges + n, mean: s.edges, meanT: s.edges };
  const i32 = (...shape: number[]) => ({ dtype: 'i32' as const, shape });
  const f32 = (...shape: number[]) => ({ dtype: 'f32' as const, shape });
  /** A CSR array: row pointers, f32 values, or an i32 per entry (column ids, rows, places of entries). */
  const csr = (part: string, rows: number, entries: number) =>
    part === 'indptr' ? i32(rows + 1) : part === 'values' ? f32(entries) : i32(entries);
  const whole = (key: string) => {
    if (key === 'features') return f32(n, F);
    if (key === 'labels') return i32(n);
    const [of, part] = key.split('.') as [string, string];
    if (of === 'split') return i32(s.split[part as 'train']);
    if (of === 'feat') return csr(part, n, n * F);
    if (of === 'featT') return csr(part, F, n * F);
    return csr(part, n, nnz[of]!);
  };
  /** A's entries in the rows before `row`. */
  const adjBefore = (row: number) => share(nnz['adj']!, BigInt(row), BigInt(n));
  return {
    nodes: n,
    before: (matrix, row) => (matrix === 'feat' ? row * F : adjBefore(row)),
    feed(key) {
      const at = key.indexOf('@');
      if (at < 0) return whole(key);
      const [, P, b, c] = /^(\d+):(\d+)(?:,(\d+)|:(pos))?$/.exec(key.slice(at + 1)) ?? [];
      const ranges = blockRanges(n, Number(P));
      const start = (k: number) => ranges[k]?.[0] ?? n;
      const rows = (k: number) => start(k + 1) - start(k);
      const base = key.slice(0, at);
      const [of, part] = base.split('.') as [string, string];
      const r = Number(b);
      if (c !== undefined && (of === 'feat' || of === 'featT')) {
        // dense features: a cell holds every value of its node rows and feature columns
        const fr = featureRanges(F, Number(P));
        const [nb, fb] = of === 'feat' ? [r, Number(c)] : [Number(c), r];
        const cols = fr[fb]![1] - fr[fb]![0];
        return csr(part, of === 'feat' ? rows(nb) : cols, rows(nb) * cols);
      }
      if (c !== undefined) {
        // the cells before (r, c) in row-major order cover start(r)·n + rows(r)·start(c) of the n² cells
        const N = BigInt(n);
        const before = (col: number) => BigInt(start(r)) * N + BigInt(rows(r)) * BigInt(start(col));
        const entries = share(nnz[of]!, before(Number(c) + 1), N * N) - share(nnz[of]!, before(Number(c)), N * N);
        return csr(part, rows(r), entries);
      }
      if (of === 'adj') return csr(part, rows(r), adjBefore(start(r + 1)) - adjBefore(start(r)));
      if (base === 'features') return f32(rows(r), F);
      if (base === 'labels') return i32(rows(r));
      if (of === 'feat') return csr(part, rows(r), rows(r) * F);
      if (of === 'split') {
        const count = s.split[part as 'train'];
        return i32(share(count, BigInt(start(r + 1)), BigInt(n)) - share(count, BigInt(start(r)), BigInt(n)));
      }
      throw new Error(`internal: no sized graph feed ${key}`);
    },
  };
}

/** ⌊total · part / whole⌋, exact past 2⁵³. */
const share = (total: number, part: bigint, whole: bigint): number => Number((BigInt(total) * part) / whole);
