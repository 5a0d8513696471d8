import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkFile } from '../../compiler/sema/check.ts';
import { generateSbm, SBM_DEFAULTS, SBM_FILES, type SbmSpec } from '../../runtime/data/sbm.ts';

const work = mkdtempSync(join(tmpdir(), 'flexc-sbm-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const spec = (over: Partial<SbmSpec> = {}): SbmSpec => ({
  ...SBM_DEFAULTS,
  nodes: 5000,
  classes: 5,
  edges: 40000,
  features: 32,
  ...over,
});
let made = 0;
const generate = (s: SbmSpec) => {
  const dir = join(work, `g${made++}`);
  generateSbm(s, dir);
  const i32 = (f: string) => new Int32Array(new Uint8Array(readFileSync(join(dir, f))).buffer);
  return { dir, i32, meta: JSON.parse(readFileSync(join(dir, SBM_FILES.meta), 'utf8')) };
};

describe('the stochastic block model generator', () => {
  it('same spec, same bytes; another seed, another graph', () => {
    const a = generate(spec());
    const b = generate(spec());
    const c = generate(spec({ seed: 1 }));
    for (const f of [SBM_FILES.edges, SBM_FILES.labels, SBM_FILES.dense, SBM_FILES.meta])
      expect(readFileSync(join(a.dir, f)).equals(readFileSync(join(b.dir, f))), f).toBe(true);
    expect(readFileSync(join(a.dir, SBM_FILES.edges)).equals(readFileSync(join(c.dir, SBM_FILES.edges)))).toBe(false);
  });

  it('sizes, homophily, power-law degrees, the split, and classes that show in the features', () => {
    const s = spec({ homophily: 0.7 });
    const g = generate(s);
    const edges = g.i32(SBM_FILES.edges);
    const labels = g.i32(SBM_FILES.labels);
    expect(edges.length).toBe(4 * s.edges); // both directions
    expect(labels.length).toBe(s.nodes);
    let same = 0;
    const deg = new Int32Array(s.nodes);
    for (let e = 0; e < edges.length; e += 2) {
      expect(edges[e]).not.toBe(edges[e + 1]);
      same += labels[edges[e]!] === labels[edges[e + 1]!] ? 1 : 0;
      deg[edges[e]!]!++;
    }
    expect(same / (edges.length / 2)).toBeGreaterThan(0.68);
    expect(same / (edges.length / 2)).toBeLessThan(0.72);
    // heavy tail: the best-connected 1% of nodes hold far more than 1% of the edge ends
    const sorted = [...deg].sort((a, b) => b - a);
    const top = sorted.slice(0, s.nodes / 100).reduce((a, d) => a + d, 0);
    expect(top / (edges.length / 2)).toBeGreaterThan(0.1);
    expect(sorted[0]!).toBeGreaterThan(20 * ((2 * 2 * s.edges) / s.nodes));
    const { train, val, test } = g.meta.split as Record<string, number[]>;
    expect(train).toHaveLength(s.classes * s.train);
    expect(val).toHaveLength(s.val);
    expect(test).toHaveLength(s.test);
    expect(new Set([...train, ...val, ...test]).size).toBe(train.length + val.length + test.length);
    // nearest class mean (estimated on the training nodes) beats chance on the test nodes
    const x = new Float32Array(new Uint8Array(readFileSync(join(g.dir, SBM_FILES.dense))).buffer);
    const f = s.features;
    const mean = new Float64Array(s.classes * f);
    for (const i of train) for (let j = 0; j < f; j++) mean[labels[i]! * f + j]! += x[i * f + j]! / s.train;
    let right = 0;
    for (const i of test) {
      let best = -1;
      let bestD = Infinity;
      for (let c = 0; c < s.classes; c++) {
        let d = 0;
        for (let j = 0; j < f; j++) d += (x[i * f + j]! - mean[c * f + j]!) ** 2;
        if (d < bestD) (bestD = d), (best = c);
      }
      right += best === labels[i] ? 1 : 0;
    }
    expect(right / test.length).toBeGreaterThan(2 / s.classes);
  });

  it('sparse binary features: CSR rows, each class using its share of the vocabulary more', () => {
    const s = spec({ density: 0.05, features: 100 });
    const g = generate(s);
    const indptr = g.i32(SBM_FILES.indptr);
    const indices = g.i32(SBM_FILES.indices);
    const labels = g.i32(SBM_FILES.labels);
    expect(indptr.length).toBe(s.nodes + 1);
    expect(indptr[s.nodes]).toBe(indices.length);
    let own = 0;
    for (let r = 0; r < s.nodes; r++)
      for (let k = indptr[r]!; k < indptr[r + 1]!; k++) {
        expect(indices[k]).toBeGreaterThanOrEqual(0);
        expect(indices[k]).toBeLessThan(s.features);
        if (k > indptr[r]!) expect(indices[k]).toBeGreaterThan(indices[k - 1]!);
        own += Math.floor(indices[k]! / (s.features / s.classes)) === labels[r] ? 1 : 0;
      }
    const density = indices.length / (s.nodes * s.features);
    expect(density).toBeGreaterThan(0.05);
    expect(density).toBeLessThan(0.1);
    expect(own / indices.length).toBeGreaterThan(2 / s.classes);
  });

  it('in the language: `generate: sbm(…)` checks its arguments and refuses files beside it', () => {
    const file = join(work, 'bad.flex');
    const check = (graph: string) => {
      writeFileSync(file, `graph G {\n  nodes: 100\n  ${graph}\n}\n`);
      return checkFile(file).diagnostics.map((d) => `${d.code} ${d.span.line}:${d.span.column} ${d.message}`);
    };
    expect(check('generate: sbm(classes: 4, edges: 10, features: 8)')).toEqual([]);
    expect(check('generate: sbm(classes: 4, edges: 10)')).toEqual(['FLX3011 3:13 `sbm` needs `features: …`']);
    expect(check('generate: sbm(classes: 4, edges: 10, features: 8, homophily: 1.5)')).toEqual([
      'FLX4005 3:64 `homophily` is a number ≥ 0 and ≤ 1',
    ]);
    expect(check('generate: sbm(classes: 4, edges: 10, features: 8, power: 2)')).toEqual([
      'FLX4005 3:60 `power` is a number > 2',
    ]);
    expect(check('generate: sbm(classes: 4, edgez: 10, features: 8)')[0]).toMatch(/FLX3011 .*no argument `edgez`/);
    expect(check('generate: sbm(classes: 400, edges: 10, features: 8)')[0]).toMatch(/400 classes need at least/);
    expect(check('generate: erdos(nodes: 4)')[0]).toMatch(/FLX4005 .*generated with `generate: sbm/);
    expect(check('generate: sbm(classes: 4, edges: 10, features: 8)\n  labels: i32[nodes] from "x.i32"')[0]).toMatch(
      /FLX4005 4:3 graph `G` is generated; it has no `labels` of its own/,
    );
  });
});
