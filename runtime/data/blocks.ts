import { type Csr, DataError, entryRows, type GraphData } from './graph.ts';

/**
 * A graph's matrices cut into blocks by node range, the data side of running an aggregation block by block: P row
 * blocks of n nodes, and for a CSR matrix the block of rows [r0, r1) and columns [c0, c1). A row's column ids are
 * sorted, so its entries in a column block are one run of its entries, in the same order: a product that sums each
 * row's blocks in ascending column order (spmm_acc) adds the same terms in the same order as the whole product, for
 * any number of blocks.
 */

/** Block b of P over n rows holds rows [⌊b·n/P⌋, ⌊(b+1)·n/P⌋). */
export function blockRanges(n: number, blocks: number): [number, number][] {
  if (!(Number.isInteger(blocks) && blocks >= 1 && blocks <= Math.max(1, n)))
    throw new RangeError(`cannot cut ${n} rows into ${blocks} blocks`);
  return Array.from({ length: blocks }, (_, b) => [Math.floor((b * n) / blocks), Math.floor(((b + 1) * n) / blocks)]);
}

/**
 * Feature blocks of a graph in P node blocks: the features' columns (a weight's rows) cut at multiples of
 * FEATURE_ALIGN rows, about F/P each (fewer blocks where F is small), so that every block of an [F, …] weight starts
 * on an aligned binding.
 */
export function featureRanges(F: number, P: number): [number, number][] {
  const cuts = [0];
  for (let k = 1; k < P; k++) {
    const at = Math.round((k * F) / P / FEATURE_ALIGN) * FEATURE_ALIGN;
    if (at > cuts.at(-1)! && at < F) cuts.push(at);
  }
  cuts.push(F);
  return cuts.slice(1).map((hi, k) => [cuts[k]!, hi]);
}
export const FEATURE_ALIGN = 64;

/**
 * The block of `a` with rows [r0, r1) and columns [c0, c1): row pointers from 0, column ids less c0, and for each of
 * its entries the entry of `a` it holds (`entries`, to pick per-entry values such as dropped or attention weights).
 */
export function csrBlock(
  a: Csr,
  [r0, r1]: [number, number],
  [c0, c1]: [number, number],
): Csr & { entries: Int32Array } {
  const first = new Int32Array(r1 - r0);
  const indptr = new Int32Array(r1 - r0 + 1);
  for (let r = r0; r < r1; r++) {
    const [from, to] = [a.indptr[r]!, a.indptr[r + 1]!];
    const lo = lowerBound(a.indices, from, to, c0);
    first[r - r0] = lo;
    indptr[r - r0 + 1] = indptr[r - r0]! + (lowerBound(a.indices, lo, to, c1) - lo);
  }
  const nnz = indptr[r1 - r0]!;
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  const entries = new Int32Array(nnz);
  for (let r = 0; r < r1 - r0; r++)
    for (let k = 0; k < indptr[r + 1]! - indptr[r]!; k++) {
      const e = first[r]! + k;
      indices[indptr[r]! + k] = a.indices[e]! - c0;
      values[indptr[r]! + k] = a.values[e]!;
      entries[indptr[r]! + k] = e;
    }
  return { indptr, indices, values, entries };
}

/** The first entry in [from, to) whose column id is at least c (ids ascending). */
function lowerBound(ids: Int32Array, from: number, to: number, c: number): number {
  let [lo, hi] = [from, to];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < c) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The arrays of a graph cut into P node blocks, by feed key: `<feed>@P:r,c` is block (r, c) of a matrix over nodes
 * (`adj`, `adjT`, `mean`, `meanT`: `.indptr`, `.indices`, `.values`; `.rows`, each entry's row in the block;
 * `.cellpos`, each entry's place among the entries of row block r; `adjT.src`, the place of the entry of A it
 * transposes among the entries of A's row block c); `adj.*@P:r` the entries of A's row block r (`.indptr` from 0,
 * `.indices` as they are, `.rows` from the block's first, `.cellinv` each entry's place in the block's cells laid
 * end to end), where per-edge values ([nnz, H]) are cut; `feat.*@P:r` the feature CSR's row block r;
 * `feat.*@P:r,f` its cell of node block r and feature block f (featureRanges; `.cellpos`: each entry's place
 * among row block r's), `featT.*@P:f,r` the transpose's cell (`.perm`: each entry's place in cell (r, f));
 * `features@P:r` and `labels@P:r` rows; `split.<s>@P:b` the split's nodes in block b (ids from the block's
 * first) and `split.<s>@P:b:pos` their places in the split. Undefined for a key without `@`.
 */
export function blockFeed(g: GraphData, key: string): { data: Float32Array | Int32Array; shape: number[] } | undefined {
  const at = key.indexOf('@');
  if (at < 0) return undefined;
  const m = /^(\d+):(\d+)(?:,(\d+)|:(pos))?$/.exec(key.slice(at + 1));
  const base = key.slice(0, at);
  if (!m) throw new DataError(`graph feed ${key}: expected <feed>@P:b, @P:r,c or @P:b:pos`);
  const P = Number(m[1]);
  const ranges = blockRanges(g.nodes, P);
  const b = Number(m[2]);
  const block = (k: number) => {
    if (!(k < P)) throw new DataError(`graph feed ${key}: block ${k} of ${P}`);
    return ranges[k]!;
  };
  const out = (data: Float32Array | Int32Array, ...shape: number[]) => ({
    data,
    shape: shape.length ? shape : [data.length],
  });
  const [of, part] = base.split('.') as [string, string | undefined];
  if (m[3] !== undefined && ['adj', 'adjT', 'mean', 'meanT'].includes(of)) {
    const k = cached(g, `${of}@${P}:${b},${m[3]}`, () => csrBlock(g[of as 'adj'], block(b), block(Number(m[3]))));
    if (part === 'indptr' || part === 'indices' || part === 'values') return out(k[part]);
    const a = g[of as 'adj'];
    if (part === 'rows') return out(entryRows(k.indptr));
    if (part === 'cellpos') return out(Int32Array.from(k.entries, (e) => e - a.indptr[block(b)[0]]!));
    if (part === 'src' && of === 'adjT') {
      // an entry of Aᵀ's cell (b, c) is entry perm[e] of A, in A's row block c
      const first = g.adj.indptr[block(Number(m[3]))[0]]!;
      return out(Int32Array.from(k.entries, (e) => g.adjT.perm[e]! - first));
    }
  }
  if (m[3] !== undefined && (of === 'feat' || of === 'featT')) {
    // the features' cell (node block b, feature block c), or its transpose's (feature block b, node block c)
    const fr = featureRanges(g.featureDim, P);
    const [nb, fb] = of === 'feat' ? [b, Number(m[3])] : [Number(m[3]), b];
    if (!(fb < fr.length)) throw new DataError(`graph feed ${key}: feature block ${fb} of ${fr.length}`);
    const [r0] = block(nb);
    const k =
      of === 'feat'
        ? cached(g, `feat@${P}:${nb},${fb}`, () => csrBlock(g.feat, block(nb), fr[fb]!))
        : cached(g, `featT@${P}:${fb},${nb}`, () => csrBlock(g.featT, fr[fb]!, block(nb)));
    if (part === 'indptr' || part === 'indices' || part === 'values') return out(k[part]);
    // each entry's place among the feature entries of node block nb (where per-entry values, dropped or not, are cut)
    if (part === 'cellpos' && of === 'feat') return out(Int32Array.from(k.entries, (e) => e - g.feat.indptr[r0]!));
    if (part === 'perm' && of === 'featT') {
      // each entry's place among the entries of the feature cell it transposes (node block nb, feature block fb)
      const cell = cached(g, `feat@${P}:${nb},${fb}`, () => csrBlock(g.feat, block(nb), fr[fb]!));
      const at = new Map(Array.from(cell.entries, (e, i) => [e, i]));
      return out(Int32Array.from(k.entries, (e) => at.get(g.featT.perm[e]!)!));
    }
  }
  if (m[3] === undefined && m[4] === undefined && of === 'adj' && part !== 'values') {
    // the entries of row block b, in A's order: row pointers from 0, column ids as they are, rows from its first
    const [r0, r1] = block(b);
    const [from, to] = [g.adj.indptr[r0]!, g.adj.indptr[r1]!];
    if (part === 'indptr') return out(Int32Array.from(g.adj.indptr.subarray(r0, r1 + 1), (p) => p - from));
    if (part === 'indices') return out(g.adj.indices.subarray(from, to));
    if (part === 'rows') return out(Int32Array.from(g.adj.rows.subarray(from, to), (r) => r - r0));
    if (part === 'cellinv') {
      // each entry's place in its row block's cells (r, 0), (r, 1), … laid end to end
      const inv = new Int32Array(to - from);
      let at = 0;
      for (let c = 0; c < P; c++)
        for (const e of cached(g, `adj@${P}:${b},${c}`, () => csrBlock(g.adj, block(b), block(c))).entries)
          inv[e - from] = at++;
      return out(inv);
    }
  }
  if (m[3] === undefined && m[4] === undefined) {
    const [r0, r1] = block(b);
    if (base === 'features')
      return out(g.features.subarray(r0 * g.featureDim, r1 * g.featureDim), r1 - r0, g.featureDim);
    if (base === 'labels') return out(g.labels.subarray(r0, r1));
    if (of === 'feat') {
      const k = cached(g, `feat@${P}:${b}`, () => csrBlock(g.feat, [r0, r1], [0, g.featureDim]));
      return out(k[part as 'indptr' | 'indices' | 'values']);
    }
    if (of === 'split') return out(splitBlock(g, part as 'train', [r0, r1]).ids);
  }
  if (m[4] !== undefined && of === 'split') return out(splitBlock(g, part as 'train', block(b)).pos);
  throw new DataError(`graph feed ${key}: ${base} has no blocks of that kind`);
}

/** A split's nodes in rows [r0, r1) (ids less r0), in the split's order, and their places in the split. */
function splitBlock(g: GraphData, s: 'train' | 'val' | 'test', [r0, r1]: [number, number]) {
  const ids = g.split[s];
  if (!ids) throw new DataError(`graph has no split.${s}`);
  const pos = Int32Array.from(ids.keys()).filter((k) => ids[k]! >= r0 && ids[k]! < r1);
  return { ids: Int32Array.from(pos, (k) => ids[k]! - r0), pos };
}

const blocksOf = new WeakMap<GraphData, Map<string, Csr & Record<string, Int32Array | Float32Array>>>();
function cached<T extends Csr>(g: GraphData, key: string, make: () => T): T {
  let m = blocksOf.get(g);
  if (!m) blocksOf.set(g, (m = new Map()));
  if (!m.has(key)) m.set(key, make() as unknown as Csr & Record<string, Int32Array>);
  return m.get(key) as unknown as T;
}
