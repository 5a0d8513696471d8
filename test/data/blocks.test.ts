import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule } from '../../compiler/interp/interpret.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import { leafName, type Value } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { bindingsOf } from '../../compiler/codegen/bindings.ts';
import { lowerValue } from '../../compiler/kernel/lower/index.ts';
import { blockRanges, csrBlock, featureRanges } from '../../runtime/data/blocks.ts';
import { type Csr, graphFeed, loadGraph } from '../../runtime/data/graph.ts';
import type { GraphFeed } from '../../runtime/data/graph-spec.ts';
import { runOnGpu } from '../helpers/gpu.ts';
import { nativeKernels } from '../helpers/native.ts';

/**
 * Sparse aggregation block by block: the adjacency cut into P × P blocks by node range, each row block's product a
 * chain of spmm_acc over the column blocks in ascending order. Every row's sum then adds the same terms in the same
 * order as the whole product: the results are bitwise the whole product's for every P, on the CPU reference and on
 * each target's kernels (WGSL on WebGPU in both device classes, C natively).
 */
const graphOf = (file: string) => {
  const r = compile(file, 'train');
  const spec = graphResolver(r.program)(
    r.program.files
      .values()
      .next()
      .value!.ast.decls.find((d) => d.kind === 'graph')!.name.name,
  );
  return loadGraph(spec);
};

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: rows * cols }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** A module computing A @ x whole (P = 1: spmm_csr, as models run it) or by blocks (spmm_acc chains per row block). */
function product(a: Csr, n: number, f: number, blocks: number) {
  const b = new Builder();
  const feeds = new Map<string, NDArray>();
  const input = (name: string, data: Int32Array | Float32Array, shape: number[]) => {
    feeds.set(name, { data, shape });
    return b.leaf('input', name, { dtype: data instanceof Int32Array ? 'i32' : 'f32', shape });
  };
  const x = randomMatrix(n, f, 7);
  const ranges = blockRanges(n, blocks);
  const xs = ranges.map(([lo, hi], c) => input(`x${c}`, x.slice(lo * f, hi * f), [hi - lo, f]));
  const chains: Value[][] = [];
  const outs = ranges.map((rows, r) => {
    let acc = blocks === 1 ? xs[0]! : b.op('full', [], { value: 0, shape: [rows[1] - rows[0], f], dtype: 'f32' });
    const chain: Value[] = [];
    ranges.forEach((cols, c) => {
      const k = csrBlock(a, rows, cols);
      const csr = [
        input(`p${r}.${c}`, k.indptr, [k.indptr.length]),
        input(`i${r}.${c}`, k.indices, [k.indices.length]),
        input(`v${r}.${c}`, k.values, [k.values.length]),
      ];
      const k2 = { cols: cols[1] - cols[0] };
      acc = blocks === 1 ? b.op('spmm_csr', [...csr, xs[c]!], k2) : b.op('spmm_acc', [acc, ...csr, xs[c]!], k2);
      chain.push(acc);
    });
    chains.push(chain);
    return acc;
  });
  const y = blocks === 1 ? outs[0]! : b.op('concat', outs, { axis: 0 });
  return {
    module: { name: 'blocks', values: b.values, outputs: [{ name: 'y', value: y }], updates: [] },
    feeds,
    chains,
  };
}

describe('blockRanges and csrBlock', () => {
  it('cut n rows into P ranges that cover them in order, and refuse more blocks than rows', () => {
    expect(blockRanges(10, 3)).toEqual([
      [0, 3],
      [3, 6],
      [6, 10],
    ]);
    expect(blockRanges(5, 1)).toEqual([[0, 5]]);
    expect(() => blockRanges(3, 4)).toThrow(RangeError);
    expect(() => blockRanges(3, 0)).toThrow(RangeError);
  });

  it('the P × P blocks of Cora’s adjacency hold each of its entries once, with its value and its place', () => {
    const g = graphOf('examples/gcn-cora.flex');
    const ranges = blockRanges(g.nodes, 5);
    const seen = new Int32Array(g.adj.indices.length);
    for (const rows of ranges)
      for (const cols of ranges) {
        const k = csrBlock(g.adj, rows, cols);
        for (let r = 0; r < rows[1] - rows[0]; r++)
          for (let e = k.indptr[r]!; e < k.indptr[r + 1]!; e++) {
            const whole = k.entries[e]!;
            seen[whole]!++;
            expect(g.adj.indices[whole]).toBe(k.indices[e]! + cols[0]);
            expect(g.adj.values[whole]).toBe(k.values[e]);
            expect(whole >= g.adj.indptr[rows[0] + r]! && whole < g.adj.indptr[rows[0] + r + 1]!).toBe(true);
          }
      }
    expect(seen.every((s) => s === 1)).toBe(true);
  });
});

describe.each([
  ['Cora (2,708 nodes)', 'examples/gcn-cora.flex'],
  ['a generated graph (20,000 nodes, power-law degrees)', 'examples/gcn-sbm.flex'],
])('the adjacency of %s by blocks', (_label, file) => {
  const g = graphOf(file);
  const f = 16;
  const whole = product(g.adj, g.nodes, f, 1);
  const want = runModule(whole.module, whole.feeds, new Map(), { precision: 'f32', step: 1 }).outputs.get('y')!;

  it.each([2, 3, 4, 7, 16])('P = %i: bitwise the whole product on the CPU reference', (blocks) => {
    const p = product(g.adj, g.nodes, f, blocks);
    const got = runModule(p.module, p.feeds, new Map(), { precision: 'f32', step: 1 }).outputs.get('y')!;
    expect(Buffer.from(got.data.buffer).equals(Buffer.from(want.data.buffer))).toBe(true);
  });

  it('P = 4 and 7: bitwise the whole product with WGSL kernels (both device classes) and C kernels', async () => {
    for (const blocks of [4, 7]) {
      const p = product(g.adj, g.nodes, f, blocks);
      const ranges = blockRanges(g.nodes, blocks);
      const runs = [
        ...(['cpu', 'gpu'] as const).map((cls) => ({
          name: `wgsl/${cls}`,
          run: (v: Value, ins: NDArray[]) => runOnGpu(v, ins, cls),
        })),
        {
          name: 'c',
          run: async (v: Value, ins: NDArray[]) => {
            const k = lowerValue(v, 'cpu');
            const n = (v.type.shape as number[]).reduce((a, d) => a * d, 1);
            return nativeKernels([k]).run(
              k,
              bindingsOf(v).operands.map((x) => ins[v.inputs.indexOf(x)]!),
              n,
            );
          },
        },
      ];
      for (const { name, run } of runs) {
        const wholeOut = await run(whole.chains[0]![0]!, operandsOf(whole.chains[0]![0]!, whole.feeds, new Map()));
        const rows: (Float32Array | Int32Array)[] = [];
        for (const [r, chain] of p.chains.entries()) {
          const got = new Map<Value, NDArray>();
          for (const v of chain) got.set(v, { data: await run(v, operandsOf(v, p.feeds, got)), shape: [] });
          rows.push(got.get(chain.at(-1)!)!.data as Float32Array);
          expect(got.get(chain.at(-1)!)!.data.length, `${name}, row block ${r}`).toBe(
            (ranges[r]![1] - ranges[r]![0]) * f,
          );
        }
        const joined = Float32Array.from(rows.flatMap((x) => Array.from(x)));
        expect(Buffer.from(joined.buffer).equals(Buffer.from(Float32Array.from(wholeOut).buffer)), name).toBe(true);
      }
    }
  }, 120_000);
});

/** A value's operands: feeds by leaf name, earlier results by value, and zeros for the chain's first accumulator. */
function operandsOf(v: Value, feeds: Map<string, NDArray>, done: Map<Value, NDArray>): NDArray[] {
  return v.inputs.map((x) => {
    if (done.has(x)) return done.get(x)!;
    if (x.op === 'full') {
      const shape = x.type.shape as number[];
      return { data: new Float32Array(shape[0]! * shape[1]!), shape };
    }
    return feeds.get(leafName(x))!;
  });
}

describe('block feeds (graphFeed `<feed>@P:…`): what a step cut into node blocks reads', () => {
  const g = graphOf('examples/gcn-cora.flex');
  const P = 3;
  const ranges = blockRanges(g.nodes, P);
  const feed = (key: string) => graphFeed(g, key as GraphFeed);

  it('features and labels by row block join into the whole', () => {
    const rows = ranges.map((_, b) => feed(`features@${P}:${b}`));
    expect(rows.map((r) => r.shape[0])).toEqual(ranges.map(([lo, hi]) => hi - lo));
    const joined = new Float32Array(g.features.length);
    rows.forEach((r, b) => joined.set(r.data, ranges[b]![0] * g.featureDim));
    expect(Buffer.from(joined.buffer).equals(Buffer.from(g.features.buffer))).toBe(true);
    expect(Int32Array.from(ranges.flatMap((_, b) => Array.from(feed(`labels@${P}:${b}`).data)))).toEqual(g.labels);
  });

  it('adjacency blocks are csrBlock’s; the feature CSR by row block holds each row’s entries', () => {
    for (const part of ['indptr', 'indices', 'values'] as const)
      expect(feed(`adjT.${part}@${P}:2,1`).data).toEqual(csrBlock(g.adjT, ranges[2]!, ranges[1]!)[part]);
    const nnz = ranges.map((_, b) => feed(`feat.indices@${P}:${b}`).data.length);
    expect(nnz.reduce((a, n) => a + n, 0)).toBe(g.feat.indices.length);
    expect(nnz[1]).toBe(g.feat.indptr[ranges[1]![1]]! - g.feat.indptr[ranges[1]![0]]!);
  });

  it('feature blocks: aligned ranges of the features that cover them, about F/P each', () => {
    expect(featureRanges(1433, 8)).toEqual([
      [0, 192],
      [192, 384],
      [384, 512],
      [512, 704],
      [704, 896],
      [896, 1088],
      [1088, 1280],
      [1280, 1433],
    ]);
    expect(featureRanges(100, 8)).toEqual([
      [0, 64],
      [64, 100],
    ]);
    expect(featureRanges(16, 4)).toEqual([[0, 16]]);
  });

  it('the feature cells hold each entry once, with its value; their transposes point into them (featT.perm)', () => {
    const fr = featureRanges(g.featureDim, P);
    let entries = 0;
    for (const [r, [r0]] of ranges.entries()) {
      const rowValues = feed(`feat.values@${P}:${r}`).data;
      for (const [c, [c0, c1]] of fr.entries()) {
        const cell = csrBlock(g.feat, ranges[r]!, [c0, c1]);
        for (const part of ['indptr', 'indices', 'values'] as const)
          expect(feed(`feat.${part}@${P}:${r},${c}`).data).toEqual(cell[part]);
        const pos = feed(`feat.cellpos@${P}:${r},${c}`).data;
        pos.forEach((p, k) => expect(rowValues[p]).toBe(cell.values[k]));
        entries += pos.length;
        // Aᵀ's cell (c, r): each entry the feature of a node in block r, its value found in cell (r, c) by perm
        const perm = feed(`featT.perm@${P}:${c},${r}`).data;
        const t = feed(`featT.values@${P}:${c},${r}`).data;
        const nodes = feed(`featT.indices@${P}:${c},${r}`).data;
        expect(t.length).toBe(pos.length);
        t.forEach((x, k) => {
          expect(cell.values[perm[k]!]).toBe(x);
          expect(nodes[k]! + r0).toBeLessThan(ranges[r]![1]);
        });
      }
    }
    expect(entries).toBe(g.feat.indices.length);
  });

  it('a split by block: its nodes in the block, from the block’s first, and their places in the split', () => {
    const seen = new Set<number>();
    for (const [b, [lo]] of ranges.entries()) {
      const ids = feed(`split.test@${P}:${b}`).data;
      const pos = feed(`split.test@${P}:${b}:pos`).data;
      ids.forEach((id, k) => expect(g.split.test[pos[k]!]).toBe(id + lo));
      for (const p of pos) seen.add(p);
    }
    expect(seen.size).toBe(g.split.test.length);
  });

  it('refuses a block past P and a key it cannot read, with a message', () => {
    expect(() => feed(`features@${P}:${P}`)).toThrow(/block 3 of 3/);
    expect(() => feed('features@3')).toThrow(/expected/);
    expect(() => feed('labels@3:0,1')).toThrow(/no blocks of that kind/);
  });
});

describe('dropout with an offset', () => {
  it('a row block’s dropout draws the whole tensor’s mask there, bitwise', () => {
    const b = new Builder();
    const [n, f, r0, r1] = [50, 7, 20, 35];
    const x = randomMatrix(n, f, 3);
    const step = b.leaf('input', 'step', { dtype: 'i32', shape: [] });
    const whole = b.op('dropout', [b.leaf('input', 'x', { dtype: 'f32', shape: [n, f] }), step], { p: 0.4, seed: 9 });
    const xb = b.leaf('input', 'xb', { dtype: 'f32', shape: [r1 - r0, f] });
    const part = b.op('dropout', [xb, step], { p: 0.4, seed: 9, offset: r0 * f });
    const m = {
      name: 'd',
      values: b.values,
      outputs: [
        { name: 'whole', value: whole },
        { name: 'part', value: part },
      ],
      updates: [],
    };
    const feeds = new Map<string, NDArray>([
      ['step', { data: Int32Array.of(5), shape: [] }],
      ['x', { data: x, shape: [n, f] }],
      ['xb', { data: x.slice(r0 * f, r1 * f), shape: [r1 - r0, f] }],
    ]);
    const out = runModule(m, feeds, new Map(), { precision: 'f32', step: 5 }).outputs;
    expect(Array.from(out.get('part')!.data)).toEqual(Array.from(out.get('whole')!.data).slice(r0 * f, r1 * f));
  });
});

describe("per-edge values by A's row block (graph attention)", () => {
  const g = graphOf('examples/gat-cora.flex');
  const feed = (key: string) => graphFeed(g, key as GraphFeed).data as Int32Array;
  it.each([2, 3, 7])('P = %i: row blocks, their cells and the transpose name the same entries of A', (P) => {
    const ranges = blockRanges(g.nodes, P);
    for (let r = 0; r < P; r++) {
      const [r0, r1] = ranges[r]!;
      const from = g.adj.indptr[r0]!;
      // the row block: a run of A's entries
      expect(Array.from(feed(`adj.indices@${P}:${r}`))).toEqual(
        Array.from(g.adj.indices.subarray(from, g.adj.indptr[r1])),
      );
      expect(Array.from(feed(`adj.rows@${P}:${r}`), (x) => x + r0)).toEqual(
        Array.from(g.adj.rows.subarray(from, g.adj.indptr[r1])),
      );
      // its cells laid end to end, put back in A's order by cellinv
      const ends = ranges.flatMap(([c0], c) => Array.from(feed(`adj.indices@${P}:${r},${c}`), (x) => x + c0));
      expect(Array.from(feed(`adj.cellinv@${P}:${r}`), (k) => ends[k])).toEqual(
        Array.from(feed(`adj.indices@${P}:${r}`)),
      );
      for (let c = 0; c < P; c++) {
        const c0 = ranges[c]![0];
        // a cell's entries are at cellpos among the row block's
        const pos = feed(`adj.cellpos@${P}:${r},${c}`);
        const [ids, rows] = [feed(`adj.indices@${P}:${r}`), feed(`adj.rows@${P}:${r}`)];
        expect(Array.from(pos, (k) => ids[k]! - c0)).toEqual(Array.from(feed(`adj.indices@${P}:${r},${c}`)));
        expect(Array.from(feed(`adj.rows@${P}:${r},${c}`))).toEqual(Array.from(pos, (k) => rows[k]!));
        // Aᵀ's cell (r, c): entry (j, i) is A's entry (i, j), found among the entries of A's row block c
        const t = feed(`adjT.src@${P}:${r},${c}`);
        const tIdx = feed(`adjT.indices@${P}:${r},${c}`);
        const tPtr = feed(`adjT.indptr@${P}:${r},${c}`);
        const [got, want]: [number[], number[]] = [[], []];
        for (let j = 0; j + 1 < tPtr.length; j++)
          for (let e = tPtr[j]!; e < tPtr[j + 1]!; e++) {
            const a = g.adj.indptr[c0]! + t[e]!;
            got.push(g.adj.rows[a]!, g.adj.indices[a]!);
            want.push(tIdx[e]! + c0, j + r0);
          }
        expect(got).toEqual(want);
      }
    }
  });
});
