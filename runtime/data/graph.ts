import { statSync } from 'node:fs';
import { endianness } from 'node:os';
import { FileReadError, readRegularFile } from '../read-file.ts';
import type { GraphFeed, GraphSpec } from './graph-spec.ts';
import { blockFeed } from './blocks.ts';

export interface GraphData {
  nodes: number;
  featureDim: number;
  features: Float32Array;
  /** The features' nonzeros in CSR (nodes × featureDim), for models that keep them sparse. */
  feat: Csr;
  /** Their transpose in CSR, and for each of its entries the entry of `feat` it holds (`perm`). */
  featT: Csr & { perm: Int32Array };
  /** D^-1/2 (A + I) D^-1/2 in CSR, the GCN propagation matrix, and each entry's row (its destination node). */
  adj: Csr & { rows: Int32Array };
  /** Its transpose in CSR (the backward pass aggregates along reversed edges); `perm[k]`: the entry of `adj` at k. */
  adjT: Csr & { perm: Int32Array };
  /** D^-1 A in CSR, no self loops: each node's mean over its neighbours (GraphSAGE's mean aggregator). */
  mean: Csr;
  /** Its transpose in CSR. */
  meanT: Csr;
  labels: Int32Array;
  split: { train: Int32Array; val: Int32Array; test: Int32Array };
}

export interface Csr {
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
}

export class DataError extends Error {}

/** The nonzeros of a dense rows × cols matrix in CSR. */
export function denseToCsr(x: Float32Array, rows: number, cols: number): Csr {
  const indptr = new Int32Array(rows + 1);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let c = 0; c < cols; c++) if (x[r * cols + c] !== 0) n++;
    indptr[r + 1] = indptr[r]! + n;
  }
  const indices = new Int32Array(indptr[rows]!);
  const values = new Float32Array(indptr[rows]!);
  let at = 0;
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++)
      if (x[r * cols + c] !== 0) {
        indices[at] = c;
        values[at++] = x[r * cols + c]!;
      }
  return { indptr, indices, values };
}

/** The transpose of a rows × cols CSR matrix (column ids sorted per row); `perm[k]` is the entry of `a` at k. */
export function transposeCsr(a: Csr, rows: number, cols: number): Csr & { perm: Int32Array } {
  const indptr = new Int32Array(cols + 1);
  for (const c of a.indices) indptr[c + 1]!++;
  for (let c = 0; c < cols; c++) indptr[c + 1]! += indptr[c]!;
  const fill = indptr.slice(0, cols);
  const indices = new Int32Array(a.indices.length);
  const values = new Float32Array(a.values.length);
  const perm = new Int32Array(a.indices.length);
  for (let r = 0; r < rows; r++)
    for (let e = a.indptr[r]!; e < a.indptr[r + 1]!; e++) {
      const at = fill[a.indices[e]!]!++;
      indices[at] = r;
      values[at] = a.values[e]!;
      perm[at] = e;
    }
  return { indptr, indices, values, perm };
}

/** The largest data file read (a typed array holds at most 2³¹ − 1 bytes' worth here). */
const MAX_DATA_BYTES = 2 ** 31 - 1;

/** A data file's bytes: a regular file of at most `limit` bytes, or a DataError saying why not. */
export function readData(file: string, limit = MAX_DATA_BYTES): Buffer {
  try {
    return readRegularFile(file, limit);
  } catch (e) {
    if (e instanceof FileReadError) throw new DataError(`cannot read ${file}: ${e.message}`);
    throw e;
  }
}

export function readI32(file: string): Int32Array {
  const buf = readData(file);
  if (buf.byteLength % 4) throw new DataError(`${file} is ${buf.byteLength} bytes, not a whole number of int32 values`);
  return littleEndian(buf, new Int32Array(buf.byteLength / 4), (i) => buf.readInt32LE(i * 4));
}

/** A file's bytes as little-endian 32-bit values: copied at once on a little-endian machine. */
function littleEndian<T extends Int32Array | Float32Array>(buf: Buffer, out: T, read: (i: number) => number): T {
  if (endianness() === 'LE') new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(buf);
  else for (let i = 0; i < out.length; i++) out[i] = read(i);
  return out;
}

export function fileSize(file: string): number | undefined {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
}

const cache = new Map<string, GraphData>();

/** Reads a graph's files, normalises features and adjacency, and checks every size against the declaration. */
export function loadGraph(spec: GraphSpec): GraphData {
  const key = JSON.stringify(spec);
  const hit = cache.get(key);
  if (hit) return hit;
  if (spec.sizes) throw new DataError(`graph ${spec.name} is declared by its sizes alone: it has no data to run on`);
  const n = spec.nodes;
  const f = spec.features;
  const featureDim = f?.dim ?? 0;
  const features = new Float32Array(n * featureDim);
  if (f && 'indptr' in f) {
    const indptr = readI32(f.indptr);
    const indices = readI32(f.indices);
    if (indptr.length !== n + 1)
      throw new DataError(`${f.indptr} has ${indptr.length} row pointers; ${n} nodes need ${n + 1}`);
    if (indptr[n] !== indices.length)
      throw new DataError(`${f.indptr} ends at ${indptr[n]}, but ${f.indices} holds ${indices.length} column ids`);
    for (let r = 0; r < n; r++)
      for (let e = indptr[r]!; e < indptr[r + 1]!; e++) {
        const c = indices[e]!;
        if (c < 0 || c >= featureDim) throw new DataError(`${f.indices}: column ${c} is outside 0..${featureDim - 1}`);
        features[r * featureDim + c] = 1;
      }
  } else if (f) {
    const buf = readData(f.dense);
    if (buf.byteLength !== n * featureDim * 4)
      throw new DataError(
        `${f.dense} is ${buf.byteLength} bytes; f32[${n}, ${featureDim}] needs ${n * featureDim * 4}`,
      );
    littleEndian(buf, features, (i) => buf.readFloatLE(i * 4));
  }
  if (f?.normalize === 'row')
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let j = 0; j < featureDim; j++) s += features[r * featureDim + j]!;
      if (s > 0) for (let j = 0; j < featureDim; j++) features[r * featureDim + j]! /= s;
    }

  const edges = spec.edges ? readI32(spec.edges.file) : new Int32Array(0);
  if (edges.length % 2)
    throw new DataError(`${spec.edges!.file} holds an odd number of int32 values; edges are (src, dst) pairs`);
  for (let e = 0; e < edges.length; e += 2) {
    const [s, d] = [edges[e]!, edges[e + 1]!];
    if (s < 0 || s >= n || d < 0 || d >= n)
      throw new DataError(`${spec.edges!.file}: edge (${s}, ${d}) names a node outside 0..${n - 1}`);
  }
  const { indptr, indices } = neighbours(n, edges);
  const deg = Int32Array.from({ length: n }, (_, r) => indptr[r + 1]! - indptr[r]!);
  const values = new Float32Array(indptr[n]!);
  for (let r = 0; r < n; r++)
    for (let e = indptr[r]!; e < indptr[r + 1]!; e++) values[e] = 1 / Math.sqrt(deg[r]! * deg[indices[e]!]!);

  const labels = spec.labels ? readI32(spec.labels.file) : new Int32Array(n).fill(-1);
  if (labels.length !== n) throw new DataError(`${spec.labels!.file} holds ${labels.length} labels for ${n} nodes`);
  const split = { train: new Int32Array(0), val: new Int32Array(0), test: new Int32Array(0) };
  if (spec.split) {
    let meta: { split?: Record<string, number[]> };
    try {
      meta = JSON.parse(readData(spec.split.file, 64 * 2 ** 20).toString('utf8')) as typeof meta;
    } catch (e) {
      if (e instanceof DataError) throw e;
      throw new DataError(`${spec.split.file} is not JSON`);
    }
    for (const k of ['train', 'val', 'test'] as const) {
      const ids = meta.split?.[k];
      if (!Array.isArray(ids)) throw new DataError(`${spec.split.file} has no split.${k} list`);
      if (ids.some((i) => !(Number.isInteger(i) && i >= 0 && i < n)))
        throw new DataError(`${spec.split.file}: split.${k} names a node outside 0..${n - 1}`);
      if (k === 'train' && !ids.length)
        throw new DataError(`${spec.split.file}: split.train is empty, so there is nothing to train on`);
      split[k] = Int32Array.from(ids);
    }
  }
  const rows = entryRows(indptr);
  const adj = { indptr, indices, values, rows };
  // the other matrices when first read: a graph of dense features never needs their CSR
  const data = lazily(
    { nodes: n, featureDim, features, adj, labels, split },
    {
      feat: () => denseToCsr(features, n, featureDim),
      featT: (g) => transposeCsr(g.feat, n, featureDim),
      adjT: () => transposeCsr(adj, n, n),
      mean: () => meanOf(adj),
      meanT: (g) => transposeCsr(g.mean, n, n),
    },
  );
  cache.set(key, data);
  return data;
}

/** The graph with each of `made` computed on first read, then kept. */
function lazily(
  fixed: Omit<GraphData, 'feat' | 'featT' | 'adjT' | 'mean' | 'meanT'>,
  made: { [K in 'feat' | 'featT' | 'adjT' | 'mean' | 'meanT']: (g: GraphData) => GraphData[K] },
): GraphData {
  const g = { ...fixed } as GraphData;
  for (const [k, make] of Object.entries(made))
    Object.defineProperty(g, k, {
      enumerable: true,
      configurable: true,
      get() {
        const value = (make as (g: GraphData) => unknown)(g);
        Object.defineProperty(g, k, { value, enumerable: true });
        return value;
      },
    });
  return g;
}

/**
 * Each node's neighbours and itself, once each, ascending, in CSR: the rows of A + I from (src, dst) pairs (a row
 * per src), counted, filled, sorted and made distinct.
 */
function neighbours(n: number, edges: Int32Array): { indptr: Int32Array; indices: Int32Array } {
  const start = new Float64Array(n + 1);
  for (let e = 0; e < edges.length; e += 2) start[edges[e]! + 1]!++;
  for (let r = 0; r < n; r++) start[r + 1]! += start[r]! + 1;
  const all = new Int32Array(start[n]!);
  const fill = Float64Array.from(start);
  for (let r = 0; r < n; r++) all[fill[r]!++] = r;
  for (let e = 0; e < edges.length; e += 2) all[fill[edges[e]!]!++] = edges[e + 1]!;
  const indptr = new Int32Array(n + 1);
  let at = 0;
  for (let r = 0; r < n; r++) {
    const row = all.subarray(start[r]!, start[r + 1]!).sort();
    for (let k = 0; k < row.length; k++) if (k === 0 || row[k] !== row[k - 1]) all[at++] = row[k]!;
    indptr[r + 1] = at;
  }
  return { indptr, indices: all.slice(0, at) };
}

/** Each node's mean over its neighbours (without itself), in CSR: 1/deg per edge; a node with none aggregates 0. */
function meanOf(adj: Csr): Csr {
  const n = adj.indptr.length - 1;
  const indptr = new Int32Array(n + 1);
  for (let r = 0; r < n; r++) indptr[r + 1] = indptr[r]! + adj.indptr[r + 1]! - adj.indptr[r]! - 1;
  const indices = new Int32Array(indptr[n]!);
  const values = new Float32Array(indptr[n]!);
  for (let r = 0; r < n; r++) {
    let at = indptr[r]!;
    const others = indptr[r + 1]! - at;
    for (let e = adj.indptr[r]!; e < adj.indptr[r + 1]!; e++)
      if (adj.indices[e] !== r) (indices[at] = adj.indices[e]!), (values[at++] = 1 / others);
  }
  return { indptr, indices, values };
}

/** The row of each entry of a CSR matrix, from its row pointers. */
export function entryRows(indptr: Int32Array): Int32Array {
  const rows = new Int32Array(indptr[indptr.length - 1]!);
  for (let r = 0; r + 1 < indptr.length; r++) rows.fill(r, indptr[r]!, indptr[r + 1]!);
  return rows;
}

/** The array a graph feed key names, with its shape. */
export function graphFeed(g: GraphData, feed: GraphFeed): { data: Float32Array | Int32Array; shape: number[] } {
  const block = blockFeed(g, feed);
  if (block) return block;
  if (feed === 'features') return { data: g.features, shape: [g.nodes, g.featureDim] };
  if (feed === 'labels') return { data: g.labels, shape: [g.nodes] };
  const [of, part] = feed.split('.') as [string, string];
  // a split's node ids, or an array of one of the CSR matrices (feat, featT, adj, adjT, mean, meanT)
  const data =
    of === 'split'
      ? g.split[part as 'train' | 'val' | 'test']
      : (g[of as 'featT'] as unknown as Record<string, Float32Array | Int32Array>)[part]!;
  return { data, shape: [data.length] };
}
