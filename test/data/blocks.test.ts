import { describe, expect, it } from 'vitest';
import { graphResolver } from '../../compiler/cli/run.ts';
import { compile } from '../../compiler/compile.ts';
import { runModule } from '../../compiler/interp/interpret.ts';
import { Builder } from '../../compiler/ir/builder.ts';
import { leafName, type Value } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';
import { bindingsOf } from '../../compiler/codegen/bindings.ts';
import { lowerValue } from '../../compiler/kernel/lower/index.ts';
import { blockRanges, csrBlock } from '../../runtime/data/blocks.ts';
import { type Csr, loadGraph } from '../../runtime/data/graph.ts';
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
