import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { normals, rng } from '../init.ts';

/**
 * A stochastic block model with power-law degrees (a degree-corrected SBM, Karrer & Newman 2011, with Chung–Lu
 * weights): `classes` blocks, `edges` undirected edges, each joining a node drawn by its weight to one of its own class
 * with probability `homophily`, else to one of another class, drawn by weight too; weights fall as a power law
 * (degree exponent `power`). Features carry the class too: dense ones are the class's mean (a random direction,
 * scaled by `signal`) plus unit Gaussian noise; with `density`, binary ones (a bag of words), each class more likely
 * to use its own share of the vocabulary. So a GNN can learn the classes from features and structure, better from
 * both. The split is Planetoid's: `train` nodes per class, then `val` and `test` nodes.
 */
export interface SbmSpec {
  nodes: number;
  classes: number;
  edges: number;
  features: number;
  homophily: number;
  power: number;
  signal: number;
  /** Binary features, each present with about this probability (sparse, CSR); dense Gaussian ones without it. */
  density?: number;
  seed: number;
  train: number;
  val: number;
  test: number;
}

export const SBM_DEFAULTS = { homophily: 0.8, power: 2.5, signal: 0.5, seed: 0, train: 20, val: 500, test: 1000 };

/** The files a generated graph is written to, in its folder. */
export const SBM_FILES = {
  edges: 'edges.i32',
  labels: 'labels.i32',
  dense: 'features.f32',
  indptr: 'feat_indptr.i32',
  indices: 'feat_indices.i32',
  meta: 'meta.json',
};

/** Values written per chunk: generation streams to disk, so a graph larger than memory's arrays is fine. */
const CHUNK = 1 << 20;

/**
 * Writes the graph into `dir` (made atomically: a temporary folder renamed into place, so an interrupted generation
 * leaves nothing behind). Same spec, same bytes.
 */
export function generateSbm(spec: SbmSpec, dir: string): void {
  if (existsSync(join(dir, SBM_FILES.meta))) return;
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    write(spec, tmp);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

function write(spec: SbmSpec, dir: string): void {
  const { nodes: n, classes: k } = spec;
  const next = rng(spec.seed * 7919 + 17);
  // classes: as even as they go, in a random order
  const label = new Int32Array(n);
  for (let i = 0; i < n; i++) label[i] = i % k;
  shuffle(label, next);
  // Chung–Lu weights: w ∝ rank^(-1/(power-1)) over a random order of the nodes gives degrees ~ d^(-power)
  const order = Int32Array.from({ length: n }, (_, i) => i);
  shuffle(order, next);
  const weight = new Float64Array(n);
  for (let r = 0; r < n; r++) weight[order[r]!] = (r + 1) ** (-1 / (spec.power - 1));
  const all = sampler(
    Int32Array.from({ length: n }, (_, i) => i),
    weight,
  );
  const members = Array.from({ length: k }, () => [] as number[]);
  for (let i = 0; i < n; i++) members[label[i]!]!.push(i);
  const byClass = members.map((m) => sampler(Int32Array.from(m), weight));

  const fd = openSync(join(dir, SBM_FILES.edges), 'w');
  const buf = new Int32Array(Math.min(CHUNK, 2 * 2 * spec.edges));
  let used = 0;
  const flush = () => {
    writeSync(fd, new Uint8Array(buf.buffer, 0, used * 4));
    used = 0;
  };
  for (let e = 0; e < spec.edges; ) {
    const u = all(next());
    const same = next() < spec.homophily || k === 1;
    const c = same ? label[u]! : (label[u]! + 1 + Math.floor(next() * (k - 1))) % k;
    const v = byClass[c]!(next());
    if (u === v) continue;
    if (used + 4 > buf.length) flush();
    buf[used++] = u;
    buf[used++] = v;
    buf[used++] = v;
    buf[used++] = u;
    e++;
  }
  flush();
  closeSync(fd);
  writeFileSync(join(dir, SBM_FILES.labels), new Uint8Array(label.buffer));
  if (spec.density === undefined) denseFeatures(spec, label, next, join(dir, SBM_FILES.dense));
  else sparseFeatures(spec, label, next, dir);

  const pick = Int32Array.from({ length: n }, (_, i) => i);
  shuffle(pick, next);
  const train: number[] = [];
  const taken = new Uint8Array(n);
  const per = new Int32Array(k);
  for (const i of pick) if (per[label[i]!]! < spec.train) per[label[i]!]!++, train.push(i), (taken[i] = 1);
  const rest = [...pick].filter((i) => !taken[i]);
  const val = rest.slice(0, spec.val).sort((a, b) => a - b);
  const test = rest.slice(spec.val, spec.val + spec.test).sort((a, b) => a - b);
  const meta = { generator: 'sbm', spec, split: { train: train.sort((a, b) => a - b), val, test } };
  writeFileSync(join(dir, SBM_FILES.meta), `${JSON.stringify(meta)}\n`);
}

/** Dense features: the class's mean (a random Gaussian direction of length `signal`·√F) plus N(0, 1) noise. */
function denseFeatures(spec: SbmSpec, label: Int32Array, next: () => number, file: string): void {
  const f = spec.features;
  const means = new Float32Array(spec.classes * f);
  normals(means.length, next, means, 0, spec.signal);
  const fd = openSync(file, 'w');
  const rows = Math.max(1, Math.floor(CHUNK / f));
  const chunk = new Float32Array(rows * f);
  for (let r0 = 0; r0 < spec.nodes; r0 += rows) {
    const m = Math.min(rows, spec.nodes - r0);
    normals(m * f, next, chunk);
    for (let r = 0; r < m; r++) {
      const c = label[r0 + r]!;
      for (let j = 0; j < f; j++) chunk[r * f + j]! += means[c * f + j]!;
    }
    writeSync(fd, new Uint8Array(chunk.buffer, 0, m * f * 4));
  }
  closeSync(fd);
}

/**
 * Binary features (CSR): word j of a node of class c is present with probability density·(1 + 4·signal) when j falls
 * in c's share of the vocabulary, else density (so the class shows in which words a node uses).
 */
function sparseFeatures(spec: SbmSpec, label: Int32Array, next: () => number, dir: string): void {
  const f = spec.features;
  const share = Math.max(1, Math.floor(f / spec.classes));
  const p = spec.density!;
  const boosted = Math.min(1, p * (1 + 4 * spec.signal));
  const ip = openSync(join(dir, SBM_FILES.indptr), 'w');
  const ix = openSync(join(dir, SBM_FILES.indices), 'w');
  const indptr = new Int32Array(1);
  writeSync(ip, new Uint8Array(indptr.buffer));
  let total = 0;
  const cols: number[] = [];
  for (let i = 0; i < spec.nodes; i++) {
    const lo = label[i]! * share;
    cols.length = 0;
    for (let j = 0; j < f; j++) if (next() < (j >= lo && j < lo + share ? boosted : p)) cols.push(j);
    total += cols.length;
    writeSync(ix, new Uint8Array(Int32Array.from(cols).buffer));
    indptr[0] = total;
    writeSync(ip, new Uint8Array(indptr.buffer));
  }
  closeSync(ip);
  closeSync(ix);
}

/** Draws an item with probability proportional to its weight, from a uniform number in [0, 1): a cumulative table. */
function sampler(items: Int32Array, weight: Float64Array): (u: number) => number {
  const cum = new Float64Array(items.length);
  let s = 0;
  for (let i = 0; i < items.length; i++) cum[i] = s += weight[items[i]!]!;
  return (u) => {
    const x = u * s;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return items[lo]!;
  };
}

function shuffle(a: Int32Array, next: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}
