import type { Csr } from './graph.ts';

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
