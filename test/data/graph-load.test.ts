import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/sema/graph-decl.ts';
import { loadProgram } from '../../compiler/sema/program.ts';
import { type Csr, loadGraph } from '../../runtime/data/graph.ts';

/**
 * The loader builds A + I row by row (counted, filled, sorted, made distinct); here the same matrices are built the
 * plain way, a set of neighbours per node, and compared entry for entry, bit for bit.
 */
function bySets(n: number, edges: Int32Array): { adj: Csr; mean: Csr } {
  const sets = Array.from({ length: n }, (_, i) => new Set([i]));
  for (let e = 0; e < edges.length; e += 2) sets[edges[e]!]!.add(edges[e + 1]!);
  const rows = sets.map((s) => [...s].sort((a, b) => a - b));
  const csr = (pick: (r: number) => number[], value: (r: number, c: number) => number): Csr => {
    const lists = rows.map((_, r) => pick(r));
    const indptr = Int32Array.from([0, ...lists.map((l) => l.length)]);
    for (let r = 0; r < n; r++) indptr[r + 1]! += indptr[r]!;
    return {
      indptr,
      indices: Int32Array.from(lists.flat()),
      values: Float32Array.from(lists.flatMap((l, r) => l.map((c) => value(r, c)))),
    };
  };
  return {
    adj: csr(
      (r) => rows[r]!,
      (r, c) => 1 / Math.sqrt(rows[r]!.length * rows[c]!.length),
    ),
    mean: csr(
      (r) => rows[r]!.filter((c) => c !== r),
      (r) => 1 / (rows[r]!.length - 1),
    ),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'flexc-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const same = (a: Csr, b: Csr) => {
  for (const k of ['indptr', 'indices', 'values'] as const) expect(Array.from(a[k]), k).toEqual(Array.from(b[k]));
};

describe('loading a graph', () => {
  it('a coo file with duplicates and self loops: A + I once per entry, normalised; the mean without self loops', () => {
    const edges = Int32Array.from([0, 1, 0, 1, 1, 0, 2, 2, 2, 0, 3, 1, 1, 3, 1, 2]);
    writeFileSync(join(dir, 'e.i32'), Buffer.from(edges.buffer));
    const g = loadGraph({ name: 'T', nodes: 5, edges: { file: join(dir, 'e.i32') } });
    const want = bySets(5, edges);
    same(g.adj, want.adj);
    same(g.mean, want.mean);
    expect(Array.from(g.adj.indptr)).toEqual([0, 2, 6, 8, 10, 11]); // node 4 has only itself
  });

  it.each([
    ['examples/gcn-cora.flex', 'Cora'],
    ['test/tiers/fixtures/gcn-sbm-small.flex', 'Small'],
  ])('%s: the same matrices as sets of neighbours give', (file, name) => {
    const spec = graphResolver(loadProgram(file))(name);
    const g = loadGraph(spec);
    const bytes = readFileSync(spec.edges!.file);
    const want = bySets(g.nodes, new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)));
    same(g.adj, want.adj);
    same(g.mean, want.mean);
  });

  it('dense features: their CSR and transpose are made only when read', () => {
    const spec = graphResolver(loadProgram('test/tiers/fixtures/gcn-sbm-small.flex'))('Small');
    const g = loadGraph({ ...spec, name: 'Small (fresh)' });
    expect(Object.getOwnPropertyDescriptor(g, 'featT')?.get).toBeDefined();
    expect(g.featT.indices.length).toBe(g.nodes * g.featureDim); // dense: every value stored
    expect(Object.getOwnPropertyDescriptor(g, 'featT')?.get).toBeUndefined(); // kept once made
  });
});
