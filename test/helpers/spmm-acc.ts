import { Builder } from '../../compiler/ir/builder.ts';
import type { Module } from '../../compiler/ir/graph.ts';
import type { NDArray } from '../../compiler/ir/op.ts';

/**
 * A module of one spmm_acc (a block of a sparse product, made after autodiff, so no op case reaches it): acc [4, 40]
 * plus a 4 × 3 CSR matrix (an empty row) times x [3, 40] — 40 features, so the CPU class's runs of 32 end early.
 */
export function spmmAccModule(): { m: Module; feeds: Map<string, NDArray>; params: Map<string, NDArray> } {
  const b = new Builder();
  const csr = { indptr: [0, 2, 3, 3, 5], indices: [0, 2, 1, 0, 1], values: [0.5, -1, 2, 0.25, 1.5] };
  const feeds = new Map<string, NDArray>([
    ['ptr', { data: Int32Array.from(csr.indptr), shape: [5] }],
    ['idx', { data: Int32Array.from(csr.indices), shape: [5] }],
    ['val', { data: Float32Array.from(csr.values), shape: [5] }],
  ]);
  const params = new Map<string, NDArray>([
    ['acc', { data: Float32Array.from({ length: 4 * 40 }, (_, i) => Math.sin(i)), shape: [4, 40] }],
    ['x', { data: Float32Array.from({ length: 3 * 40 }, (_, i) => Math.cos(i)), shape: [3, 40] }],
  ]);
  const leaf = (kind: 'input' | 'param', name: string, dtype: 'i32' | 'f32', shape: number[]) =>
    b.leaf(kind, name, { dtype, shape });
  const ins = [
    leaf('param', 'acc', 'f32', [4, 40]),
    leaf('input', 'ptr', 'i32', [5]),
    leaf('input', 'idx', 'i32', [5]),
    leaf('input', 'val', 'f32', [5]),
    leaf('param', 'x', 'f32', [3, 40]),
  ];
  const v = b.op('spmm_acc', ins, { cols: 3 });
  return { m: { name: 'acc', values: b.values, outputs: [{ name: 'y', value: v }], updates: [] }, feeds, params };
}
